"""Abuse benchmark (issue 7): the worst cases a hostile user can build, measured. Not a test.

    .venv/bin/python -m bench.abuse_bench match   # worst-case match CPU per event against event size
    .venv/bin/python -m bench.abuse_bench rules   # PutRule latency and PutEvents p99 at 10,000 rules while rules change
    .venv/bin/python -m bench.abuse_bench buses   # the 1,000-bus run
    .venv/bin/python -m bench.abuse_bench all

- `match`: every hostile family of `tests/patterns/test_linear.py` (arrays, `exists: false`, `$or`, dotted keys)
  and every operator of the language beside a second field of the same array element, at three event sizes (each
  4x the last). CPU per event (`time.process_time`, least of passes) and how it grows: linear is 4x per step. The
  one shape docs/patterns.md names as super-linear by design (an aliased path with arrays on both routes and three
  fields reading into both) is run too, at smaller sizes.
- `rules`: a redis-server and `switchboard serve` (one process) with 10,000 rules on the default bus; in-process
  first, the compile cost of one rule change on a bus of 10,000 (`router.matchers._Builder`). Then paced PutEvents
  (10 entries each) from a separate process, first alone, then while another client changes rules at 4 PutRule/s:
  PutEvents p50/p99 in both phases and PutRule p50/p99; per phase also the server's full (generation 2) garbage
  collections and their longest pause, its CPU seconds and the machine's load average (start-end), and at the end
  how much cyclic garbage a full collection finds in it (`bench/_gc_probe`, loaded into the server only).
- `buses`: `tests/router/test_many_buses.py`'s set-up in-process (1,000 buses, each a rule, a queue target and an
  API destination target to a receiver process): the time to create them, to publish one event to each and until
  all 2,000 deliveries are in, and the router's Redis connections.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import gc
import itertools
import multiprocessing
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

import patterns
from bench._http import RawHttp
from bench._procs import free_port, serve, stop, wait_ready

ROOT = Path(__file__).resolve().parents[1]
HEADERS = {"Content-Type": "application/x-amz-json-1.1"}
RULES = 10_000
BUSES = 1_000


# --- match ---------------------------------------------------------------------------------------------------------


def _cpu_per_call_s(call: Callable[[], object], passes: int = 15) -> float:
    """The least CPU seconds of one `call()` over `passes` passes (the same number at every size).

    The minimum, not the median: on the shared machine a pass's CPU time also takes in cache contention and the
    interpreter's full garbage collections (whose cost follows the whole heap, not the call), which made medians
    grow 5-10x per 4x while the matcher's own work grows 4x (`tests/patterns/test_linear.py` counts it)."""
    gc.collect()
    samples: list[float] = []
    for _ in range(passes):
        start = time.process_time()
        call()
        samples.append(time.process_time() - start)
    return min(samples)


def _aliased_three_fields(n: int) -> tuple[dict[str, Any], str]:
    """An object with both `l` (an array) and `l.b` (another array) and a rule reading three fields into both."""
    pattern = {"l": {"b": {"x": ["1"], "y": ["2"], "z": ["3"]}}}
    left = [{"b": {"x": "1", "y": "0", "z": "0"}}] * n
    right = [{"x": "0", "y": "2", "z": "0"}] * n
    return pattern, orjson.dumps({"l": left, "l.b": right}).decode()


def _beside_another_field(operator: Any, values: Callable[[int], str]) -> Callable[[int], tuple[dict[str, Any], str]]:
    """The family of one operator on `l.a` beside `l.b` of the same array element (`test_linear.py`'s shape)."""
    return lambda n: ({"l": {"a": [operator], "b": ["y"]}}, values(n))


def _match_cost(make: Callable[[int], tuple[dict[str, Any], str]], n: int) -> tuple[float, int]:
    pattern, event = make(n)
    machine = patterns.Machine()
    machine.add_rule("r", pattern)
    machine.add_rule("other", {"zz": ["1"]})
    machine.matches_for_event('{"zz": "0"}')
    return _cpu_per_call_s(lambda: machine.matches_for_event(event)), len(event)


def _floor_cost(n: int) -> tuple[float, int]:
    """What any matcher pays at least: parse the event and visit each element's two fields once."""
    from tests.patterns.test_linear import FAMILIES

    _, event = FAMILIES["two fields in one array"](n)

    def parse_and_visit() -> None:
        seen = [(element.get("a"), element.get("b")) for element in orjson.loads(event)["l"]]
        assert len(seen) == n

    return _cpu_per_call_s(parse_and_visit), len(event)


def match(sizes: tuple[int, ...] = (500, 2000, 8000)) -> list[str]:
    from tests.patterns.test_linear import FAMILIES, OPERATORS, _mixed_values

    families: dict[str, Callable[[int], tuple[dict[str, Any], str]]] = dict(FAMILIES)
    for name, operator in OPERATORS.items():
        families[f"operator: {name}"] = _beside_another_field(operator, _mixed_values)
    rows = [
        f"| family | event KB at {sizes[0]:,} / {sizes[-1]:,} elements | µs per event at each size | growth per 4x |",
        "|---|---:|---:|---:|",
    ]
    runs: list[tuple[str, Callable[[int], tuple[float, int]], tuple[int, ...]]] = [
        ("floor: orjson.loads + one pass over the elements (no matcher)", _floor_cost, sizes)
    ]
    runs += [(name, functools.partial(_match_cost, make), sizes) for name, make in families.items()]
    aliased = "aliased arrays, three fields (super-linear by design)"
    runs.append((aliased, functools.partial(_match_cost, _aliased_three_fields), (25, 100, 400)))
    for name, measure, run_sizes in runs:
        costs = [measure(n) for n in run_sizes]
        per_event = [seconds for seconds, _ in costs]
        growth = [b / a for a, b in itertools.pairwise(per_event)]
        label = name if run_sizes == sizes else f"{name} ({run_sizes[0]:,} to {run_sizes[-1]:,} elements)"
        rows.append(
            f"| {label} | {costs[0][1] / 1024:,.0f} / {costs[-1][1] / 1024:,.0f} | "
            + " / ".join(f"{s * 1e6:,.0f}" for s in per_event)
            + " | "
            + " / ".join(f"{g:.1f}x" for g in growth)
            + " |"
        )
        print(rows[-1], flush=True)
    return rows


# --- rules ---------------------------------------------------------------------------------------------------------


def _pattern(i: int, salt: int = 0) -> str:
    """Rule shapes of a large bus: exact sources, prefixes, numeric ranges, wildcards, suffixes."""
    k = i % 5
    tag = f"{i}-{salt}"
    shapes: list[dict[str, Any]] = [
        {"source": [f"app-{tag}"]},
        {"source": ["bench.abuse"], "detail": {"id": [{"prefix": f"p{tag}-"}]}},
        {"detail-type": [f"t{tag}"], "detail": {"n": [{"numeric": [">", i]}]}},
        {"source": ["bench.abuse"], "detail": {f"f{i % 50}": [{"wildcard": f"*x{tag}*"}]}},
        {"detail": {"user": {"name": [{"suffix": f"-{tag}"}], "tier": ["gold"]}}},
    ]
    return orjson.dumps(shapes[k]).decode()


def _compile_costs() -> dict[str, float]:
    """CPU of building 10,000 rules on a compile thread's builder, and of applying one changed rule to it."""
    from router.matchers import _Builder

    records = {f"r{i}".encode(): orjson.dumps({"Name": f"r{i}", "EventPattern": _pattern(i)}) for i in range(RULES)}
    builder = _Builder("default", patterns.Machine)
    start = time.process_time()
    builder.apply(1, records)
    full = time.process_time() - start
    changes: list[float] = []
    for version in range(2, 22):
        i = random.randrange(RULES)
        records[f"r{i}".encode()] = orjson.dumps({"Name": f"r{i}", "EventPattern": _pattern(i, version)})
        start = time.process_time()
        builder.apply(version, records)
        changes.append(time.process_time() - start)
    return {"full_s": full, "change_median_s": statistics.median(changes), "change_max_s": max(changes)}


def _quantiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {
        "n": len(values),
        "p50_ms": statistics.median(values) * 1000,
        "p99_ms": values[max(0, int(len(values) * 0.99) - 1)] * 1000,
        "max_ms": values[-1] * 1000,
    }


async def _paced(url: str, seconds: float, events_rps: float, rules_per_s: float) -> dict[str, dict[str, float]]:
    events = RawHttp(url, {**HEADERS, "X-Amz-Target": "AWSEvents.PutEvents"})
    rules = RawHttp(url, {**HEADERS, "X-Amz-Target": "AWSEvents.PutRule"})
    detail = orjson.dumps({"id": "p3-x", "n": 5, "user": {"name": "a-7-0", "tier": "gold"}}).decode()
    body = orjson.dumps({"Entries": [{"Source": "bench.abuse", "DetailType": "t2-0", "Detail": detail}] * 10})
    put_events: list[float] = []
    put_rule: list[float] = []
    failures = 0
    start = time.perf_counter()
    stop_at = start + seconds

    async def one(client: RawHttp, payload: bytes, into: list[float]) -> None:
        nonlocal failures
        began = time.perf_counter()
        status, _ = await client.request(payload)
        into.append(time.perf_counter() - began)
        failures += status != 200

    async def paced(rate: float, make: Callable[[int], tuple[RawHttp, bytes, list[float]]]) -> None:
        pending: set[asyncio.Task[None]] = set()
        n = 0
        while (now := time.perf_counter()) < stop_at:
            due = start + n / rate
            if due > now:
                await asyncio.sleep(due - now)
            task = asyncio.create_task(one(*make(n)))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        await asyncio.gather(*pending)

    def change(n: int) -> tuple[RawHttp, bytes, list[float]]:
        i = random.randrange(RULES)
        payload = orjson.dumps({"Name": f"r{i}", "EventPattern": _pattern(i, n + 1)})
        return rules, payload, put_rule

    jobs = [paced(events_rps, lambda n: (events, body, put_events))]
    if rules_per_s:
        jobs.append(paced(rules_per_s, change))
    await asyncio.gather(*jobs)
    return {"PutEvents": _quantiles(put_events), "PutRule": _quantiles(put_rule), "failures": {"n": failures}}


def _run_paced(url: str, seconds: float, events_rps: float, rules_per_s: float) -> dict[str, dict[str, float]]:
    return asyncio.run(_paced(url, seconds, events_rps, rules_per_s))


async def _load_rules(url: str) -> dict[str, float]:
    client = RawHttp(url, {**HEADERS, "X-Amz-Target": "AWSEvents.PutRule"})
    latencies: list[float] = []

    async def worker(ids: range) -> None:
        for i in ids:
            began = time.perf_counter()
            status, answer = await client.request(orjson.dumps({"Name": f"r{i}", "EventPattern": _pattern(i)}))
            assert status == 200, answer
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(worker(range(k, RULES, 8)) for k in range(8)))
    return {"seconds": time.perf_counter() - began, **_quantiles(latencies)}


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _phase(pool: Any, pid: int, args: tuple[Any, ...]) -> dict[str, Any]:
    """One paced phase in the pool's process, with the server's CPU, the load and the wall-clock window."""
    load, began, cpu = os.getloadavg()[0], time.time(), _cpu_s(pid)
    result: dict[str, Any] = pool.apply(_run_paced, args)
    result["window"] = (began, time.time())
    result["server_cpu_s"] = _cpu_s(pid) - cpu
    result["load"] = (load, os.getloadavg()[0])
    return result


def _gc_log(path: Path) -> tuple[list[tuple[float, float]], tuple[int, int] | None]:
    """The server's full collections (epoch s, pause s) and its last leak check (frozen, found): bench/_gc_probe."""
    fulls: list[tuple[float, float]] = []
    leak = None
    for line in path.read_text().splitlines() if path.exists() else []:
        kind, *values = line.split()
        if kind == "full":
            fulls.append((float(values[0]), float(values[1])))
        elif kind == "leak":
            leak = (int(values[1]), int(values[2]))
    return fulls, leak


def _leak_check(pid: int, path: Path) -> tuple[int, int] | None:
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        leak = _gc_log(path)[1]
        if leak is not None:
            return leak
        time.sleep(0.2)
    return None


def rules(seconds: float, events_rps: float, rules_per_s: float) -> list[str]:
    from tests.conftest import RedisServer

    costs = _compile_costs()
    workdir = Path(tempfile.mkdtemp(prefix="abuse-bench-"))
    redis_server = RedisServer(workdir)
    port = free_port()
    gc_log = workdir / "gc.log"
    probe = str(Path(__file__).resolve().parent / "_gc_probe")
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "SWITCHBOARD_QUOTA_RULES_PER_BUS": str(2 * RULES),
        "PYTHONPATH": os.pathsep.join(p for p in (probe, os.environ.get("PYTHONPATH")) if p),
        "SWITCHBOARD_BENCH_GC_LOG": str(gc_log),
    }
    server = serve(port, workdir, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server, timeout_s=60)
        loaded = asyncio.run(_load_rules(url))
        print(f"10,000 rules loaded in {loaded['seconds']:.1f} s", flush=True)
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            warm = _phase(pool, server.pid, (url, 3.0, events_rps, 0.0))  # warm-up: the bus's first build
            steady = _phase(pool, server.pid, (url, seconds, events_rps, 0.0))
            changing = _phase(pool, server.pid, (url, seconds, events_rps, rules_per_s))
        leak = _leak_check(server.pid, gc_log)
    finally:
        stop(server)
        redis_server.stop()
    fulls = _gc_log(gc_log)[0]
    rows = [
        f"Compile thread, in-process: 10,000 rules built in {costs['full_s'] * 1000:,.0f} ms CPU; one changed rule "
        f"applied in {costs['change_median_s'] * 1000:,.1f} ms CPU (median of 20; max "
        f"{costs['change_max_s'] * 1000:,.1f} ms).",
        f"Loading 10,000 rules with PutRule (8 in flight): {loaded['seconds']:.1f} s, PutRule p50 "
        f"{loaded['p50_ms']:.1f} ms, p99 {loaded['p99_ms']:.1f} ms.",
        "Server's cyclic garbage at the end (heap unfrozen, one full collection; bench/_gc_probe): "
        + ("not reported" if leak is None else f"{leak[1]:,} objects found, {leak[0]:,} had been frozen")
        + ".",
        "",
        "| phase | PutEvents (10 entries) n | p50 ms | p99 ms | max ms | PutRule n | p50 ms | p99 ms | failures "
        "| server full GCs (max pause ms) | server CPU s | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    phases = (("warm-up: first build", warm), ("no rule changes", steady), (f"{rules_per_s:g} PutRule/s", changing))
    for name, result in phases:
        e, r = result["PutEvents"], result["PutRule"]
        began, ended = result["window"]
        pauses = [pause for at, pause in fulls if began <= at <= ended]
        most = f"{max(pauses) * 1000:,.0f}" if pauses else "-"
        rows.append(
            f"| {name} | {e['n']:,.0f} | {e['p50_ms']:.1f} | {e['p99_ms']:.1f} | {e['max_ms']:.1f} | "
            f"{r['n']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {result['failures']['n']:.0f} | "
            f"{len(pauses)} ({most}) | {result['server_cpu_s']:.2f} | {result['load'][0]:.1f}-{result['load'][1]:.1f} |"
        )
    for row in rows:
        print(row, flush=True)
    return rows


# --- buses ---------------------------------------------------------------------------------------------------------


async def _buses(redis_url: str, data_dir: Path, receiver_url: str) -> dict[str, float]:
    from router.app import create_app
    from router.quotas import Quotas
    from router.settings import Settings
    from tests.router.conftest import Api
    from tests.router.test_many_buses import (
        POOL,
        _router_connections,
        create_buses,
        publish_one_each,
        wait_delivered,
    )

    settings = Settings(
        redis_url=redis_url, data_dir=data_dir, redis_max_connections=POOL, quotas=Quotas(event_buses=BUSES + 1)
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            api = Api(client, app)
            buses = [f"bus-{n:04d}" for n in range(BUSES)]
            began = time.perf_counter()
            await create_buses(api, buses, receiver_url)
            created = time.perf_counter()
            await publish_one_each(api, buses)
            published = time.perf_counter()
            received = await wait_delivered(receiver_url, BUSES, timeout_s=300)
            delivered = time.perf_counter()
            connections = sum(await _router_connections(app.state.switchboard.redis))
    assert sorted(body["detail"]["bus"] for body in received) == buses
    return {
        "create_s": created - began,
        "publish_s": published - created,
        "deliver_s": delivered - published,
        "connections": connections,
    }


def buses() -> list[str]:
    from tests.conftest import RedisServer
    from tests.router._counting_receiver import wait_ready as wait_receiver

    workdir = Path(tempfile.mkdtemp(prefix="abuse-bench-buses-"))
    redis_server = RedisServer(workdir)
    port = free_port()
    receiver_url = f"http://127.0.0.1:{port}"
    receiver = subprocess.Popen([sys.executable, "-m", "tests.router._counting_receiver", str(port)], cwd=ROOT)
    try:
        wait_receiver(receiver_url)
        result = asyncio.run(_buses(redis_server.url, workdir, receiver_url))
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
        redis_server.stop()
    rows = [
        "| buses | create (bus, rule, 2 targets each) | publish one event each | until 2,000 deliveries | "
        "router Redis connections |",
        "|---:|---:|---:|---:|---:|",
        f"| {BUSES:,} | {result['create_s']:.1f} s | {result['publish_s']:.1f} s | {result['deliver_s']:.1f} s | "
        f"{result['connections']:.0f} |",
    ]
    for row in rows:
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["match", "rules", "buses", "all"])
    parser.add_argument("--seconds", type=float, default=20.0, help="each paced phase of `rules`")
    parser.add_argument("--events-rps", type=float, default=20.0, help="PutEvents requests per second in `rules`")
    parser.add_argument("--rules-per-s", type=float, default=4.0, help="PutRule calls per second in `rules`")
    args = parser.parse_args()
    random.seed(1)
    print(
        f"abuse_bench {args.part}: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"nproc {os.cpu_count()}, Python {platform.python_version()}",
        flush=True,
    )
    if args.part in ("match", "all"):
        match()
    if args.part in ("rules", "all"):
        rules(args.seconds, args.events_rps, args.rules_per_s)
    if args.part in ("buses", "all"):
        buses()


if __name__ == "__main__":
    main()
