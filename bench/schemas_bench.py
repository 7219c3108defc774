"""Schema discovery benchmark: ingest throughput with a discoverer on the bus vs without, over 20 event shapes.

Discovery rides the ingest path as on AWS (a managed rule with an internal target that appends each matched event
to the bus's discovery stream in the ingest batch's settle script; inference runs in a background worker of the
same process). This measures what that costs the router:

- one `switchboard serve` on a fresh redis-server (no persistence, so the router's CPU is what is measured), a bus
  `bench` with one rule matching every event and one queue target (the work a bus does anyway);
- load: PutEvents of 10 entries drawn from 20 shapes (20 sources/detail types, each its own set of fields; values
  change on every event, so only values, never structure, repeat), closed loop with `--concurrency` requests in
  flight for `--seconds`, from a separate process;
- **ingest events/s**: events delivered to the queue target divided by the time from the first request until the
  last of them is delivered (accept + match + settle + deliver, i.e. everything the ingest worker does); also
  accepted events/s (PutEvents alone);
- **CPU per event**: the router process's user+system CPU time (from `/proc`) over the run divided by the events
  delivered, which the other tenants of a shared machine disturb far less than a rate;
- `--rounds` rounds, each one run without and one with a started discoverer (fresh server and Redis every run),
  alternating; medians and the on/off ratio. The "on" runs also check that the 20 schemas were discovered.

    .venv/bin/python -m bench.schemas_bench --seconds 8 --concurrency 8 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

from bench._procs import cpu_s, free_port, redis_server, serve, stop, wait_ready
from bench.ingest_bench import AUTH, HEADERS

ROOT = Path(__file__).resolve().parents[1]
SHAPES = 20
QUEUE = "bench-discovery"


def _entry(rng: random.Random, shape: int) -> dict[str, str]:
    fields = {
        f"f{shape}_{i}": (rng.random() if i % 3 == 0 else rng.randrange(10**6) if i % 3 == 1 else str(rng.random()))
        for i in range(3 + shape % 5)
    }
    detail = {"id": str(rng.random()), "shape": shape, **fields, "nested": {f"n{shape}": [rng.randrange(100)]}}
    return {
        "EventBusName": "bench",
        "Source": f"bench.shape{shape}",
        "DetailType": f"Shape {shape} Happened",
        "Detail": orjson.dumps(detail).decode(),
    }


async def _load(url: str, seconds: float, concurrency: int) -> dict[str, float]:
    headers = {**HEADERS, "Authorization": AUTH}
    rng = random.Random(7)
    bodies = [orjson.dumps({"Entries": [_entry(rng, rng.randrange(SHAPES)) for _ in range(10)]}) for _ in range(500)]
    accepted = errors = 0
    start = time.perf_counter()
    stop_at = start + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(offset: int) -> None:
            nonlocal accepted, errors
            n = offset
            while time.perf_counter() < stop_at:
                n += concurrency
                try:
                    response = await client.post(url, content=bodies[n % len(bodies)], headers=headers)
                    accepted += 10 - int(orjson.loads(response.content).get("FailedEntryCount", 10))
                except (httpx.HTTPError, orjson.JSONDecodeError, AttributeError):
                    errors += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return {"accepted": accepted, "errors": errors, "elapsed_s": time.perf_counter() - start, "start": start}


def _run_load(url: str, seconds: float, concurrency: int) -> dict[str, float]:
    return asyncio.run(_load(url, seconds, concurrency))


def _call(url: str, target: str, body: dict[str, Any]) -> None:
    headers = {**HEADERS, "X-Amz-Target": target, "Authorization": AUTH}
    httpx.post(url, content=orjson.dumps(body), headers=headers, timeout=30).raise_for_status()


def _schemas_call(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    auth = AUTH.replace("/events/", "/schemas/")
    response = httpx.request(method, url + path, json=body, headers={"Authorization": auth}, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def _one_run(discovery: bool, seconds: float, concurrency: int) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="sb-schemas-bench-"))
    redis_port, port = free_port(), free_port()
    redis_proc = redis_server(redis_port, data)
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "SWITCHBOARD_DATA_DIR": str(data)}
    server = serve(port, data, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
        _call(url, "AWSEvents.CreateEventBus", {"Name": "bench"})
        _call(
            url,
            "AWSEvents.PutRule",
            {"Name": "all", "EventBusName": "bench", "EventPattern": '{"source":[{"prefix":"bench."}]}'},
        )
        queue_arn = f"arn:aws:sqs:us-east-1:123456789012:{QUEUE}"
        _call(
            url,
            "AWSEvents.PutTargets",
            {"Rule": "all", "EventBusName": "bench", "Targets": [{"Id": "q", "Arn": queue_arn}]},
        )
        if discovery:
            _schemas_call(
                url, "POST", "/v1/discoverers", {"SourceArn": "arn:aws:events:us-east-1:123456789012:event-bus/bench"}
            )
        client = redis.Redis(port=redis_port)
        cpu_before = cpu_s(server.pid)
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            load = pool.apply(_run_load, (url, seconds, concurrency))
        began = time.time() - load["elapsed_s"]
        queue_key = f"sb:{{queue:{QUEUE}}}:messages"
        deadline = time.monotonic() + 120
        while int(client.xlen(queue_key)) < load["accepted"] and time.monotonic() < deadline:
            time.sleep(0.01)
        done = time.time()
        cpu = cpu_s(server.pid) - cpu_before
        delivered = int(client.xlen(queue_key))
        result = {
            "accepted_per_s": load["accepted"] / load["elapsed_s"],
            "ingest_per_s": delivered / (done - began),
            "events": delivered,
            "cpu_us_per_event": cpu / max(delivered, 1) * 1e6,
            "errors": load["errors"],
        }
        if discovery:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                found = _schemas_call(url, "GET", "/v1/registries/name/discovered-schemas/schemas")["Schemas"]
                if len(found) >= SHAPES:
                    break
                time.sleep(0.2)
            result["schemas"] = len(found)
            result["versions"] = sum(s["VersionCount"] for s in found)
        return result
    finally:
        for proc in (server, redis_proc):
            stop(proc)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for round_no in range(args.rounds):
        for discovery in (False, True):
            result = _one_run(discovery, args.seconds, args.concurrency)
            runs[discovery].append(result)
            label = "on " if discovery else "off"
            print(f"round {round_no + 1} discovery {label}: {orjson.dumps(result).decode()}", flush=True)
    off = statistics.median(r["ingest_per_s"] for r in runs[False])
    on = statistics.median(r["ingest_per_s"] for r in runs[True])
    off_acc = statistics.median(r["accepted_per_s"] for r in runs[False])
    on_acc = statistics.median(r["accepted_per_s"] for r in runs[True])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"ingest events/s (median of {args.rounds}): off {off:,.0f}, on {on:,.0f}, on/off {on / off:.1%}")
    print(f"accepted events/s (median): off {off_acc:,.0f}, on {on_acc:,.0f}, on/off {on_acc / off_acc:.1%}")
    off_cpu = statistics.median(r["cpu_us_per_event"] for r in runs[False])
    on_cpu = statistics.median(r["cpu_us_per_event"] for r in runs[True])
    print(f"router CPU per event (median): off {off_cpu:.0f} us, on {on_cpu:.0f} us, off/on {off_cpu / on_cpu:.1%}")
    print(f"schemas discovered per 'on' run: {[r.get('schemas') for r in runs[True]]}")


if __name__ == "__main__":
    main()
