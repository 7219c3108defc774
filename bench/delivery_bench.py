"""Delivery benchmark: PutEvents -> one rule -> five queue targets, end to end, over loopback HTTP.

Not a test. Run it as `.venv/bin/python -m bench.delivery_bench` (BENCHMARKS.md has the recorded command).

Set-up: a redis-server (append-only file, `--fsync always` by default, as `switchboard serve`'s embedded one) and
`switchboard serve` pointed at it; the default bus holds one rule whose five targets are queues
(`arn:aws:sqs:...:bench-0` .. `bench-4`). The load runs in a separate process (asyncio, keep-alive, no SigV4;
`--client raw`, the default, writes HTTP/1.1 itself; `--client httpx` uses httpx, several times the CPU per
request): PutEvents requests of 10 entries, each Detail carrying the client's send time in ms. Two phases:

1. closed loop, `--concurrency` requests in flight for `--seconds`: accepted events/s, then the time until all five
   queues hold every accepted event: fanned-out events/s = events / (time from the first send to the last queue
   append).
2. paced at `--rate` events/s for `--seconds`: latency from the client's send to the message's append to a queue
   (`sent_ms` - the Detail's send time; so it includes the PutEvents call itself), p50 and p99 over every message.

The queues are read back from Redis at the end; a missing message fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

from bench._http import RawHttp
from router.keys import Keys

KEYS = Keys()
QUEUES = [f"bench-{i}" for i in range(5)]
HEADERS = {"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(url: str, operation: str, body: dict[str, Any]) -> None:
    headers = {**HEADERS, "X-Amz-Target": f"AWSEvents.{operation}"}
    httpx.post(url, content=orjson.dumps(body), headers=headers, timeout=30).raise_for_status()


def _wait(check: Any, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.05)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class _Httpx:
    def __init__(self, url: str, concurrency: int) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.url = url
        self.client = httpx.AsyncClient(limits=limits, timeout=30)

    async def post(self, body: bytes) -> bytes:
        return (await self.client.post(self.url, content=body, headers=HEADERS)).content

    async def close(self) -> None:
        await self.client.aclose()


async def _load(
    url: str, seconds: float, concurrency: int, rate_eps: float | None, tag: str, *, client_kind: str
) -> dict[str, float]:
    accepted = errors = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    stop_at = start + seconds
    client: RawHttp | _Httpx = RawHttp(url, HEADERS) if client_kind == "raw" else _Httpx(url, concurrency)
    try:

        async def one() -> None:
            nonlocal accepted, errors
            sent_ms = int(time.time() * 1000)
            detail = orjson.dumps({"tag": tag, "sent_ms": sent_ms, "order": {"id": "o-1", "total": 42}}).decode()
            entry = {"Source": "bench.delivery", "DetailType": "OrderPlaced", "Detail": detail}
            try:
                content = await client.post(orjson.dumps({"Entries": [entry] * 10}))
                accepted += 10 - int(orjson.loads(content).get("FailedEntryCount", 10))
            except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError, AttributeError):
                errors += 1

        if rate_eps is None:

            async def worker() -> None:
                while time.perf_counter() < stop_at:
                    await one()

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            pending: set[asyncio.Task[None]] = set()
            n = 0
            while (now := time.perf_counter()) < stop_at:
                due = start + n * 10 / rate_eps
                if due > now:
                    await asyncio.sleep(due - now)
                task = asyncio.create_task(one())
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
            await asyncio.gather(*pending)
    finally:
        await client.close()
    return {
        "accepted": accepted,
        "errors": errors,
        "start_ms": time.time() * 1000 - (time.perf_counter() - start) * 1000,
        "seconds": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu_start,  # the load generator's own CPU
    }


def _run_load(
    url: str, seconds: float, concurrency: int, rate_eps: float | None, tag: str, *, client_kind: str
) -> dict[str, float]:
    return asyncio.run(_load(url, seconds, concurrency, rate_eps, tag, client_kind=client_kind))


def _load_elsewhere(
    url: str, seconds: float, concurrency: int, rate_eps: float | None, tag: str, *, client_kind: str
) -> dict[str, float]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: dict[str, float] = pool.apply(
            _run_load, (url, seconds, concurrency, rate_eps, tag), {"client_kind": client_kind}
        )
    return result


def _messages(client: redis.Redis, tag: str) -> list[list[tuple[int, int]]]:
    """Per queue: (client send ms, queue append ms) of the phase's messages."""
    out = []
    for queue in QUEUES:
        rows = []
        entries: Any = client.xrange(KEYS.queue(queue))
        for _, fields in entries:
            detail = orjson.loads(fields[b"body"])["detail"]
            if detail["tag"] == tag:
                rows.append((int(detail["sent_ms"]), int(fields[b"sent_ms"])))
        out.append(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the paced phase")
    parser.add_argument("--fsync", choices=("always", "everysec"), default="always")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator's HTTP client: raw asyncio keep-alive (default, light) or httpx (the earlier runs')",
    )
    parser.add_argument("--py-spy", type=Path, default=None, help="record the server with py-spy (collapsed stacks)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="delivery-bench-"))
    redis_port, port = _free_port(), _free_port()
    redis_proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            args.fsync,
        ],
        stdout=subprocess.DEVNULL,
    )
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    client = redis.Redis.from_url(redis_url)
    _wait(lambda: _ping(client), "redis-server")
    env = {**os.environ, "REDIS_URL": redis_url}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "switchboard"), "serve", "--port", str(port), "--log-level", "warning"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _healthy(url), "switchboard serve")
        _call(url, "PutRule", {"Name": "fanout", "EventPattern": '{"source": ["bench.delivery"]}'})
        targets = [{"Id": q, "Arn": f"arn:aws:sqs:us-east-1:123456789012:{q}"} for q in QUEUES]
        _call(url, "PutTargets", {"Rule": "fanout", "Targets": targets})

        spy = None
        if args.py_spy is not None:
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(server.pid),
                    "--duration",
                    str(int(args.seconds)),
                    "--format",
                    "raw",
                    "--output",
                    str(args.py_spy),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        closed = _load_elsewhere(url, args.seconds, args.concurrency, None, "closed", client_kind=args.client)
        if spy is not None:
            spy.wait(timeout=60)
        accepted = int(closed["accepted"])
        _wait(lambda: all(int(client.xlen(KEYS.queue(q))) >= accepted for q in QUEUES), "fan-out", 600)
        rows = _messages(client, "closed")
        last_ms = max(append for queue in rows for _, append in queue)
        fanout_s = (last_ms - closed["start_ms"]) / 1000
        for q in QUEUES:
            client.delete(KEYS.queue(q))

        paced = _load_elsewhere(url, args.seconds, 64, args.rate, "paced", client_kind=args.client)
        paced_accepted = int(paced["accepted"])
        _wait(lambda: all(int(client.xlen(KEYS.queue(q))) >= paced_accepted for q in QUEUES), "paced fan-out", 120)
        latencies = sorted(append - sent for queue in _messages(client, "paced") for sent, append in queue)
        if len(latencies) != 5 * paced_accepted:
            sys.exit(f"expected {5 * paced_accepted} messages, found {len(latencies)}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        redis_proc.terminate()
        redis_proc.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"date {dt.date.today()}, {platform.node()}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"appendfsync {args.fsync}, client {args.client}"
    )
    print("| phase | events | errors | events/s |")
    print("|---|---:|---:|---:|")
    print(
        f"| closed loop, {args.concurrency} in flight: ingested | {accepted} | {int(closed['errors'])} | "
        f"{accepted / closed['seconds']:,.0f} |"
    )
    print(f"| same: ingested and fanned out to 5 queues | {accepted * 5} deliveries | | {accepted / fanout_s:,.0f} |")
    print(
        f"\nPaced {args.rate:,.0f} events/s for {args.seconds:g} s: {paced_accepted} events, "
        f"{len(latencies)} deliveries; send -> queue append p50 {statistics.median(latencies):.0f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.0f} ms, max {latencies[-1]} ms"
    )


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


if __name__ == "__main__":
    main()
