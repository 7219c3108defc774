"""PutEvents ingest benchmark: Switchboard against moto's server, same load, same machine, one run.

Load: PutEvents requests of 10 entries with a ~1 KB Detail each, into the default bus holding 100 rules (10 of them
match every event), sent over loopback HTTP from a separate process (asyncio + httpx, keep-alive connections, no
SigV4: neither server checks signatures). Two phases per server:

1. closed loop: `--concurrency` requests in flight for `--seconds`; reports accepted events/s and p50/p99 latency;
2. paced: the rate moto sustained in phase 1, for `--seconds`, against Switchboard only: its p99 at moto's load.

Switchboard runs as `switchboard serve` with its embedded redis-server (appendfsync always, the default);
moto runs as `moto_server` from `bench/.venv-peers` (`python3 -m venv bench/.venv-peers &&
bench/.venv-peers/bin/pip install 'moto[server,events]'`).

    .venv/bin/python -m bench.ingest_bench --seconds 5 --concurrency 8
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

from bench._procs import free_port, serve, stop, wait_ready

ROOT = Path(__file__).resolve().parents[1]
MOTO = ROOT / "bench" / ".venv-peers" / "bin" / "moto_server"
HEADERS = {"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"}
AUTH = "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/events/aws4_request, SignedHeaders=host, Signature=0"


def _body() -> bytes:
    detail = orjson.dumps({"kind": "order", "k": 1, "payload": "x" * 1000}).decode()
    entry = {"Source": "bench.ingest", "DetailType": "OrderPlaced", "Detail": detail}
    return orjson.dumps({"Entries": [entry] * 10})


def _call(url: str, operation: str, body: dict[str, Any]) -> None:
    headers = {**HEADERS, "X-Amz-Target": f"AWSEvents.{operation}", "Authorization": AUTH}
    response = httpx.post(url, content=orjson.dumps(body), headers=headers, timeout=30)
    response.raise_for_status()


def _add_rules(url: str) -> None:
    for i in range(100):
        if i % 10 == 0:  # 10 rules match every event
            pattern = {"source": ["bench.ingest"], "detail": {"kind": ["order"]}}
        else:
            pattern = {"source": ["bench.ingest"], "detail": {"k": [1000 + i]}}
        _call(url, "PutRule", {"Name": f"rule-{i}", "EventPattern": orjson.dumps(pattern).decode()})


async def _load(url: str, seconds: float, concurrency: int, rate_rps: float | None) -> dict[str, float]:
    body = _body()
    headers = {**HEADERS, "Authorization": AUTH}
    latencies: list[float] = []
    accepted = 0
    errors = 0
    start = time.perf_counter()
    stop_at = start + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one() -> None:
            nonlocal accepted, errors
            began = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
                result = orjson.loads(response.content)
                accepted += 10 - int(result.get("FailedEntryCount", 10))
            except (httpx.HTTPError, orjson.JSONDecodeError, AttributeError):
                errors += 1
            latencies.append(time.perf_counter() - began)

        if rate_rps is None:

            async def worker() -> None:
                while time.perf_counter() < stop_at:
                    await one()

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            pending: set[asyncio.Task[None]] = set()
            n = 0
            while (now := time.perf_counter()) < stop_at:
                due = start + n / rate_rps
                if due > now:
                    await asyncio.sleep(due - now)
                task = asyncio.create_task(one())
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
            await asyncio.gather(*pending)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "events_per_s": accepted / elapsed,
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def _load_in_process(url: str, seconds: float, concurrency: int, rate_rps: float | None) -> dict[str, float]:
    """Run the load generator in a separate process (the server under test keeps its own cores)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: dict[str, float] = pool.apply(_run_load, (url, seconds, concurrency, rate_rps))
    return result


def _run_load(url: str, seconds: float, concurrency: int, rate_rps: float | None) -> dict[str, float]:
    return asyncio.run(_load(url, seconds, concurrency, rate_rps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if not MOTO.exists():
        sys.exit(
            f"{MOTO} is missing: python3 -m venv bench/.venv-peers && "
            "bench/.venv-peers/bin/pip install 'moto[server,events]'"
        )

    results: dict[str, dict[str, float]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    try:
        moto_port = free_port()
        moto = subprocess.Popen(
            [str(MOTO), "-H", "127.0.0.1", "-p", str(moto_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            url = f"http://127.0.0.1:{moto_port}"
            wait_ready(url, moto)
            _add_rules(url)
            results["moto"] = _load_in_process(url, args.seconds, args.concurrency, None)
        finally:
            stop(moto)

        port = free_port()
        ours = serve(port, workdir, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, ours)
            _add_rules(url)
            results["switchboard"] = _load_in_process(url, args.seconds, args.concurrency, None)
            moto_rps = results["moto"]["events_per_s"] / 10
            results["switchboard at moto's rate"] = _load_in_process(url, args.seconds, 64, moto_rps)
        finally:
            stop(ours)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"# ingest_bench {time.strftime('%Y-%m-%d')} on {platform.node()} "
        f"({os.cpu_count()} cpus, Python {platform.python_version()})"
    )
    print(
        f"# {args.seconds:g} s per phase, closed-loop concurrency {args.concurrency}, "
        "10 x ~1 KB entries per request, 100 rules"
    )
    print("| server | accepted events/s | requests | errors | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['events_per_s']:,.0f} | {r['requests']:.0f} | {r['errors']:.0f} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
        )
    ratio = results["switchboard"]["events_per_s"] / max(results["moto"]["events_per_s"], 1e-9)
    print(f"\nratio switchboard / moto (accepted events/s, closed loop): {ratio:.1f}x")


if __name__ == "__main__":
    main()
