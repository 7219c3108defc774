"""Scale-out benchmark: router and Redis CPU per event, and throughput with 1 and 2 router processes, on one
redis-server and on a 3-master Redis Cluster, in interleaved runs (1, 2, 1, 2, ...) with medians.

Not a test. Run it as `.venv/bin/python -m bench.scale_bench` (BENCHMARKS.md has the recorded commands).

Each run starts its own Redis (a redis-server with the append-only file, or a 3-master cluster on loopback), one
`switchboard serve --workers N` on it, one rule on the default bus with `--targets` queue targets, and then the load
in a separate process (bench.delivery_bench's light keep-alive client): PutEvents of 10 entries, `--concurrency` in
flight, for `--seconds`. It waits until every queue holds every accepted event, then reads the CPU time the router
processes (the serve process and its workers, from /proc) and the Redis processes (`INFO cpu`) used since the load
started. Reported per run:

- ingested events/s: accepted entries / load seconds;
- fanned out events/s: accepted entries / (first send -> last queue append);
- router, Redis and load-generator CPU per event, in microseconds: CPU seconds / accepted events. CPU time holds on a
  noisy machine where wall-clock rates do not.

`--build NAME=PATH` (repeatable) names the `switchboard` executable of another checkout's venv: the runs then
interleave the builds too (for each round, each topology, each process count: every build in turn), so a before/after
comparison comes from one run on the same machine. `--processes 1,2` picks the process counts; `--py-spy DIR`
records every router process of each run with py-spy (raw collapsed stacks, one file per process).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.delivery_bench import _call, _free_port, _healthy, _load_elsewhere, _wait
from router.keys import Keys

KEYS = Keys()
TICKS = os.sysconf("SC_CLK_TCK")


class _Redis:
    """A redis-server, or a 3-master cluster, in a temporary directory."""

    def __init__(self, kind: str, workdir: Path, fsync: str) -> None:
        self.kind = kind
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        exe = shutil.which("redis-server") or "redis-server"
        count = 3 if kind == "cluster" else 1
        for _ in range(count):
            port = _free_port()
            node_dir = workdir / f"redis-{port}"
            node_dir.mkdir()
            args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir), "--save", ""]
            args += ["--appendonly", "yes", "--appendfsync", fsync]
            if kind == "cluster":
                args += ["--cluster-enabled", "yes", "--cluster-port", str(_free_port())]
            self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL))
            self.ports.append(port)
        for port in self.ports:
            _wait(lambda p=port: _ping(p), f"redis-server on {port}")
        if kind == "cluster":
            nodes = [f"127.0.0.1:{port}" for port in self.ports]
            subprocess.run(
                ["redis-cli", "--cluster", "create", *nodes, "--cluster-yes"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            _wait(self._cluster_ok, "cluster_state:ok")
        self.url = f"redis://127.0.0.1:{self.ports[0]}/0"

    def _cluster_ok(self) -> bool:
        for port in self.ports:
            client = redis.Redis(port=port)
            try:
                if client.cluster("info")["cluster_state"] != "ok":
                    return False
            finally:
                client.close()
        return True

    def client(self) -> Any:
        return redis.RedisCluster.from_url(self.url) if self.kind == "cluster" else redis.Redis.from_url(self.url)

    def cpu_s(self) -> float:
        total = 0.0
        for port in self.ports:
            client = redis.Redis(port=port)
            try:
                info = client.info("cpu")
                total += float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
            finally:
                client.close()
        return total

    def command_calls(self) -> dict[str, tuple[int, int]]:
        """(calls, µs) per command (`INFO commandstats`), summed over the nodes. A script's µs include those of the
        commands it runs (counted again under their own names)."""
        calls: dict[str, tuple[int, int]] = {}
        for port in self.ports:
            client = redis.Redis(port=port)
            try:
                for name, stats in client.info("commandstats").items():
                    command = name.removeprefix("cmdstat_")
                    n, usec = calls.get(command, (0, 0))
                    calls[command] = (n + int(stats["calls"]), usec + int(stats["usec"]))
            finally:
                client.close()
        return calls

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)


def _ping(port: int) -> bool:
    client = redis.Redis(port=port)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def _tree(pid: int) -> list[int]:
    """The process and its descendants (from /proc/PID/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in (task / "children").read_text().split()]
    return found


def _cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / TICKS


def _spy(pids: list[int], seconds: float, out: Path, label: str) -> list[subprocess.Popen[bytes]]:
    """py-spy recorders of the router processes that run Python (for --py-spy)."""
    exe = str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--format",
                "raw",
                "--nonblocking",
                "--rate",
                "200",
                "--output",
                str(out / f"{label}-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def run(kind: str, workers: int, args: argparse.Namespace, exe: str = "", label: str = "") -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    store = _Redis(kind, workdir, args.fsync)
    port = _free_port()
    env = {**os.environ, "REDIS_URL": store.url}
    exe = exe or str(Path(sys.executable).parent / "switchboard")
    command = [exe, "serve", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen([*command, "--workers", str(workers)], cwd=workdir, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    queues = [f"bench-{i}" for i in range(args.targets)]
    client = store.client()
    try:
        _wait(lambda: _healthy(url), "switchboard serve", 60)
        _call(url, "PutRule", {"Name": "fanout", "EventPattern": '{"source": ["bench.delivery"]}'})
        targets = [{"Id": q, "Arn": f"arn:aws:sqs:us-east-1:123456789012:{q}"} for q in queues]
        _call(url, "PutTargets", {"Rule": "fanout", "Targets": targets})
        time.sleep(1.0)  # every worker has its matcher and targets
        pids = _tree(server.pid)
        router_before, redis_before, calls_before = _cpu_s(pids), store.cpu_s(), store.command_calls()
        spies = (
            [] if args.py_spy is None else _spy(pids if workers == 1 else pids[1:], args.seconds, args.py_spy, label)
        )
        load = _load_elsewhere(url, args.seconds, args.concurrency, None, "closed", client_kind="raw")
        for spy in spies:
            spy.wait(timeout=120)
        accepted = int(load["accepted"])
        _wait(lambda: all(int(client.xlen(KEYS.queue(q))) >= accepted for q in queues), "fan-out", 600)
        router_cpu, redis_cpu = _cpu_s(pids) - router_before, store.cpu_s() - redis_before
        after = store.command_calls()
        calls = {name: n - calls_before.get(name, (0, 0))[0] for name, (n, _) in after.items()}
        usec = {name: u - calls_before.get(name, (0, 0))[1] for name, (_, u) in after.items()}
        if args.commands:
            busiest = sorted(calls.items(), key=lambda item: -item[1])[:8]
            print("  commands per 100 events: " + ", ".join(f"{n} {c * 100 / accepted:.1f}" for n, c in busiest))
            costly = sorted(usec.items(), key=lambda item: -item[1])[:8]
            print("  command µs per event: " + ", ".join(f"{n} {u / accepted:.2f}" for n, u in costly))
        last_ms = 0
        for q in queues:
            newest: Any = client.xrevrange(KEYS.queue(q), count=1)
            last_ms = max(last_ms, int(newest[0][1][b"sent_ms"]))
        fanout_s = (last_ms - load["start_ms"]) / 1000
    finally:
        client.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        store.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "accepted": accepted,
        "errors": load["errors"],
        "ingested_eps": accepted / load["seconds"],
        "fanout_eps": accepted / fanout_s,
        "router_us": router_cpu / accepted * 1e6,
        "redis_us": redis_cpu / accepted * 1e6,
        "load_us": load["cpu_s"] / accepted * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs (1 process, then 2) per topology")
    parser.add_argument("--targets", type=int, default=5, help="queue targets of the rule (1: CPU per event)")
    parser.add_argument("--topology", choices=("single", "cluster", "both"), default="both")
    parser.add_argument("--fsync", choices=("always", "everysec"), default="everysec")
    parser.add_argument("--processes", default="1,2", help="router process counts to run, comma-separated")
    parser.add_argument(
        "--build",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another build's switchboard executable, interleaved with this one (repeatable)",
    )
    parser.add_argument("--commands", action="store_true", help="print each run's Redis commands per 100 events")
    parser.add_argument("--py-spy", type=Path, default=None, help="record each router process with py-spy into DIR")
    args = parser.parse_args()
    kinds = ["single", "cluster"] if args.topology == "both" else [args.topology]
    counts = [int(n) for n in args.processes.split(",")]
    builds = [("this", "")] + [tuple(b.split("=", 1)) for b in args.build]
    results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    print(
        f"date {dt.date.today()}, {platform.node()}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"{args.targets} queue targets, 10 entries per call, {args.concurrency} calls in flight, {args.seconds:g} s, "
        f"appendfsync {args.fsync}"
    )
    head = "| build | Redis | processes | ingested events/s | fanned out events/s | router µs/event | Redis µs/event |"
    print("| run " + head + " load µs/event |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    number = 0
    for _ in range(args.rounds):
        for kind in kinds:
            for workers in counts:
                for name, exe in builds:
                    number += 1
                    result = run(kind, workers, args, exe, f"{number}-{name}-{kind}-{workers}")
                    results.setdefault((name, kind, workers), []).append(result)
                    print(
                        f"| {number} | {name} | {kind} | {workers} | {result['ingested_eps']:,.0f} | "
                        f"{result['fanout_eps']:,.0f} | {result['router_us']:.1f} | {result['redis_us']:.1f} | "
                        f"{result['load_us']:.1f} |",
                        flush=True,
                    )
    print("\nMedians:")
    print(head)
    print("|---|---|---:|---:|---:|---:|---:|")
    for (name, kind, workers), runs in results.items():
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(
            f"| {name} | {kind} | {workers} | {med['ingested_eps']:,.0f} | {med['fanout_eps']:,.0f} | "
            f"{med['router_us']:.1f} | {med['redis_us']:.1f} |"
        )


if __name__ == "__main__":
    main()
