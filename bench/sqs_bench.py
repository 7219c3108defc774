"""SQS benchmark: SendMessageBatch -> ReceiveMessage -> DeleteMessageBatch, Switchboard against moto's server.

Not a test. Run it as `.venv/bin/python -m bench.sqs_bench` (BENCHMARKS.md has the recorded command).

Load: `--concurrency` workers on one standard queue, each looping for `--seconds`: SendMessageBatch of 10 messages
of `--body-bytes` bytes, ReceiveMessage (MaxNumberOfMessages 10, no wait), DeleteMessageBatch of what it received.
Requests are AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.*`, what current SDKs send), over loopback keep-alive HTTP from a
separate process (bench/_http.py's light client; the SigV4 header names the service, neither server checks the
signature). The result is messages/s through the whole cycle: messages deleted per second (each one was sent,
received and deleted). Failed calls and batch entries are counted, and so are messages received (and deleted) a
second time, which no server should do within the 60 s visibility timeout the receives ask for.

The servers run one after the other in the same run, `--rounds` times, on the same machine: moto as `moto_server`
from `bench/.venv-peers` (`python3 -m venv bench/.venv-peers && bench/.venv-peers/bin/pip install 'moto[server]'`),
Switchboard as `switchboard serve` with its embedded redis-server (`--fsync always`, the default: every answer
waits for the append-only file's fsync; `--fsync everysec` is the other choice). Each server's CPU time (its process
and children: the router and its redis-server) is read from /proc around the load, so the run also reports CPU per
message, which a busy shared machine disturbs less than throughput.

    .venv/bin/python -m bench.sqs_bench --seconds 10 --concurrency 8 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench._http import RawHttp
from bench._procs import free_port, stop

ROOT = Path(__file__).resolve().parents[1]
MOTO = ROOT / "bench" / ".venv-peers" / "bin" / "moto_server"
AUTH = "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0"


def _headers(operation: str) -> dict[str, str]:
    return {
        "X-Amz-Target": f"AmazonSQS.{operation}",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": AUTH,
    }


def _create_queue(url: str, proc: subprocess.Popen[bytes]) -> str:
    """Wait for the server, then create the bench queue; its QueueUrl."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            response = httpx.post(url, content=b'{"QueueName": "bench"}', headers=_headers("CreateQueue"), timeout=5)
            response.raise_for_status()
            queue_url: str = response.json()["QueueUrl"]
            return queue_url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.args!r} did not start")


async def _load(url: str, queue_url: str, seconds: float, concurrency: int, body_bytes: int) -> dict[str, float]:
    send = RawHttp(url, _headers("SendMessageBatch"))
    receive = RawHttp(url, _headers("ReceiveMessage"))
    delete = RawHttp(url, _headers("DeleteMessageBatch"))
    body = "m" * body_bytes
    receive_request = {"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 60}
    totals = {"sent": 0, "received": 0, "deleted": 0, "errors": 0, "duplicates": 0}
    seen: set[str] = set()
    samples: list[str] = []
    cycles: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def call(client: RawHttp, payload: dict[str, Any], member: str) -> list[Any]:
        """The answer's `member` list; [] (counted as an error) for a failed call or a dropped connection."""
        try:
            status, raw = await client.request(orjson.dumps(payload))
        except (OSError, asyncio.IncompleteReadError) as err:
            totals["errors"] += 1
            samples.append(f"{member}: {err!r}")
            return []
        answer = orjson.loads(raw) if raw else {}
        if status != 200:
            totals["errors"] += 1
            samples.append(f"{member}: HTTP {status} {raw[:200]!r}")
            return []
        samples.extend(f"{member}: {failure}" for failure in answer.get("Failed", []))
        found: list[Any] = answer.get(member, [])
        return found

    async def worker(index: int) -> None:
        n = 0
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            entries = [{"Id": str(i), "MessageBody": f"{index}-{n}-{i}-{body}"} for i in range(10)]
            n += 1
            sent = await call(send, {"QueueUrl": queue_url, "Entries": entries}, "Successful")
            totals["sent"] += len(sent)
            messages = await call(receive, receive_request, "Messages")
            totals["received"] += len(messages)
            if messages:
                handles = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                done = await call(delete, {"QueueUrl": queue_url, "Entries": handles}, "Successful")
                for message in messages[: len(done)]:
                    if message["MessageId"] in seen:
                        totals["duplicates"] += 1
                    seen.add(message["MessageId"])
                totals["deleted"] += len(done)
                totals["errors"] += len(messages) - len(done)
            cycles.append(time.perf_counter() - began)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    for client in (send, receive, delete):
        await client.close()
    cycles.sort()
    for sample in samples[:5]:
        print(f"  error sample ({url}): {sample}", file=sys.stderr)
    return {
        "messages_per_s": totals["deleted"] / elapsed,
        "sent_per_s": totals["sent"] / elapsed,
        "received": totals["received"],
        "deleted": totals["deleted"],
        "errors": totals["errors"],
        "duplicates": totals["duplicates"],
        "p50_ms": statistics.median(cycles) * 1000 if cycles else 0.0,
        "p99_ms": cycles[max(int(len(cycles) * 0.99) - 1, 0)] * 1000 if cycles else 0.0,
    }


def _cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by process `root` and its descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    family, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in family]
        family.update(children)
        frontier += children
    return sum(used.get(pid, 0.0) for pid in family)


def _measured(proc: subprocess.Popen[bytes], *args: Any) -> dict[str, float]:
    """The load's result, plus the server's CPU (its process and children, e.g. redis-server) per message."""
    before = _cpu_s(proc.pid)
    result = _load_elsewhere(*args)
    result["cpu_ms_per_message"] = (_cpu_s(proc.pid) - before) * 1000 / max(result["deleted"], 1)
    return result


def _run_load(*args: Any) -> dict[str, float]:
    return asyncio.run(_load(*args))


def _load_elsewhere(*args: Any) -> dict[str, float]:
    """The load generator in its own process, so the servers keep their cores to themselves."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: dict[str, float] = pool.apply(_run_load, args)
    return result


def _moto(args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        queue_url = _create_queue(url, proc)
        return _measured(proc, url, queue_url, args.seconds, args.concurrency, args.body_bytes)
    finally:
        stop(proc)


def _switchboard(args: argparse.Namespace) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="sqs-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    command = [str(Path(sys.executable).parent / "switchboard"), "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--log-level", "warning", "--fsync", args.fsync],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        queue_url = _create_queue(url, proc)
        return _measured(proc, url, queue_url, args.seconds, args.concurrency, args.body_bytes)
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--body-bytes", type=int, default=256)
    parser.add_argument("--fsync", choices=("always", "everysec"), default="always")
    args = parser.parse_args()
    if not MOTO.exists():
        sys.exit(
            f"{MOTO} is missing: python3 -m venv bench/.venv-peers && bench/.venv-peers/bin/pip install 'moto[server]'"
        )
    runs: dict[str, list[dict[str, float]]] = {"moto": [], "switchboard": []}
    for _ in range(args.rounds):
        runs["moto"].append(_moto(args))
        runs["switchboard"].append(_switchboard(args))

    print(
        f"# sqs_bench {time.strftime('%Y-%m-%d')} on {platform.node()} "
        f"({os.cpu_count()} cpus, Python {platform.python_version()})"
    )
    print(
        f"# {args.rounds} rounds x {args.seconds:g} s per server, concurrency {args.concurrency}, "
        f"{args.body_bytes}-byte bodies, Switchboard --fsync {args.fsync}"
    )
    print(
        "| server | round | messages/s (sent, received, deleted) | sent/s | failed calls or entries "
        "| received twice | cycle p50 ms | cycle p99 ms | server CPU ms per message |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, results in runs.items():
        for index, r in enumerate(results, 1):
            print(
                f"| {name} | {index} | {r['messages_per_s']:,.0f} | {r['sent_per_s']:,.0f} | {r['errors']:.0f} "
                f"| {r['duplicates']:.0f} "
                f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['cpu_ms_per_message']:.2f} |"
            )
    medians = {name: statistics.median(r["messages_per_s"] for r in results) for name, results in runs.items()}
    print(f"\nmedian messages/s: switchboard {medians['switchboard']:,.0f}, moto {medians['moto']:,.0f}")
    print(f"ratio switchboard / moto (medians): {medians['switchboard'] / max(medians['moto'], 1e-9):.1f}x")
    cpu = {name: statistics.median(r["cpu_ms_per_message"] for r in results) for name, results in runs.items()}
    print(
        f"median server CPU per message: switchboard {cpu['switchboard']:.2f} ms (router and redis-server), "
        f"moto {cpu['moto']:.2f} ms; ratio moto / switchboard {cpu['moto'] / max(cpu['switchboard'], 1e-9):.1f}x"
    )


if __name__ == "__main__":
    main()
