"""Archive and replay benchmark: the cost of archiving on ingest, replay throughput, router memory during a replay,
and Redis bytes per archived event. One run, one machine, everything on loopback.

Setup: a throwaway redis-server (no persistence: this measures the archive, not fsync) and router processes started
from this tree (`create_app` under uvicorn). Events are ~1 KB envelopes (an order-like Detail of ~900 bytes with varied
values, so compression is not flattered; every event sent has a Detail never sent before).

1. **Ingest with the archive off vs on.** A router (ingest and delivery workers) with a bus of 100 rules (10 match
   every event, as bench/ingest_bench.py). A separate process sends `--ingest-events` events with PutEvents (10 per
   request, `--concurrency` in flight); the time runs until the ingest worker has routed the last one (its group
   has nothing pending or unread). On bus `off` (no archive) and bus `on` (an archive of every event), alternating,
   `--rounds` times (the order swapped every round). Reported: medians of routed events/s and of the router
   process's CPU time per event (user + system, from /proc), the median of the rounds' on/off CPU ratios, and the
   router's plus redis-server's CPU per event (the archive's writes run in Redis), and the archive's cost in each
   (CPU per event is the steadier on a shared machine).
2. **Fill.** The `on` archive is topped up to `--events` (1,000,000) with the import path (`archive.store
   .add_events`, as `switchboard archive import`; same member format as archiving on ingest). Reported: Redis bytes
   per archived event (`MEMORY USAGE` of the archive's keys, all samples) against the mean envelope size.
3. **Replay.** A second router process, without ingest workers (so the measurement is the runner's own), replays
   the whole archive into a new bus with 100 rules. Backpressure is raised above the archive size for this run (the
   destination's events are not routed meanwhile; by default a replay waits while 100,000 wait). Reported: appended
   events/s (StartReplay to COMPLETED), the replaying process's and redis-server's CPU per event, and the replaying
   process's RSS, sampled every 0.2 s (start, max, growth).

    .venv/bin/python -m bench.archive_bench                # the issue's sizes
    .venv/bin/python -m bench.archive_bench --events 200000 --ingest-events 50000
    .venv/bin/python -m bench.archive_bench --events 200000 --skip-ingest --page-events 2000   # replay only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

from archive import codec
from archive.keys import ArchiveKeys
from router.keys import INGEST_GROUP, Keys

ROOT = Path(__file__).resolve().parents[1]
HEADERS = {"Content-Type": "application/x-amz-json-1.1"}
ACCOUNT, REGION = "123456789012", "us-east-1"

_ROUTER = textwrap.dedent(
    """
    import dataclasses, sys, uvicorn
    from archive import ArchiveOptions, extension
    from router.app import create_app
    from router.settings import Settings
    url, port, ingest, backlog, page = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4]), sys.argv[5]
    options = ArchiveOptions(
        replay_poll_interval_s=0.1, replay_backlog_limit_events=backlog, maintenance_interval_s=1.0
    )
    if page:
        options = dataclasses.replace(options, replay_page_events=int(page))
    if sys.argv[6] == "1":
        options = dataclasses.replace(options, dictionary_min_events=0)
    app = create_app(Settings(redis_url=url), ingest=ingest, extensions=[extension(options)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(url: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        url, content=orjson.dumps(body), headers={**HEADERS, "X-Amz-Target": f"AWSEvents.{operation}"}
    )
    if response.status_code != 200:
        raise RuntimeError(f"{operation}: {response.status_code} {response.text}")
    answer: dict[str, Any] = orjson.loads(response.content) if response.content else {}
    return answer


def _router(
    redis_url: str, *, ingest: bool, backlog: int, page: int = 0, no_dictionary: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", _ROUTER, redis_url, str(port), "1" if ingest else "0", str(backlog), str(page or "")]
    args.append("1" if no_dictionary else "0")
    proc = subprocess.Popen(args, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _call(url, "ListEventBuses", {})
            return proc, url
        except (httpx.HTTPError, RuntimeError):
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the router did not start")


def _add_rules(url: str, bus: str) -> None:
    _call(url, "CreateEventBus", {"Name": bus})
    for i in range(100):
        if i % 10 == 0:
            pattern = {"source": ["bench.archive"], "detail": {"kind": ["order"]}}
        else:
            pattern = {"source": ["bench.archive"], "detail": {"k": [1000 + i]}}
        _call(
            url, "PutRule", {"Name": f"rule-{i}", "EventBusName": bus, "EventPattern": orjson.dumps(pattern).decode()}
        )


def _detail(seed: int) -> dict[str, Any]:
    """An order-like Detail of about 900 bytes of JSON with varied values (so compression is not flattered)."""
    rng = random.Random(seed)
    words = ["alpha", "bravo", "cargo", "delta", "ember", "fjord", "gamma", "harbor", "indigo", "juniper", "kelp"]
    return {
        "kind": "order",
        "k": 1,
        "orderId": f"{rng.getrandbits(128):032x}",
        "customer": {"id": rng.randrange(10**9), "email": f"{rng.choice(words)}.{rng.randrange(10**6)}@example.com"},
        "items": [
            {"sku": f"SKU-{rng.randrange(10**6):06d}", "qty": rng.randrange(1, 9), "price": rng.randrange(100, 99999)}
            for _ in range(8)
        ],
        "note": " ".join(rng.choice(words) + str(rng.randrange(100)) for _ in range(40)),
    }


def _body(bus: str, n: int) -> bytes:
    entries = [
        {
            "Source": "bench.archive",
            "DetailType": "OrderPlaced",
            "Detail": orjson.dumps(_detail(n * 10 + i)).decode(),
            "EventBusName": bus,
        }
        for i in range(10)
    ]
    return orjson.dumps({"Entries": entries})


async def _send(url: str, bus: str, events: int, concurrency: int, first: int) -> float:
    """PutEvents of `events` events, 10 per request, each with a Detail never sent before (bodies `first`, ...);
    the wall-clock time (epoch s) the first request went."""
    bodies = [_body(bus, first + n) for n in range(events // 10)]
    headers = {**HEADERS, "X-Amz-Target": "AWSEvents.PutEvents"}
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    start = time.time()
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal sent
            while sent < events:
                body = bodies[sent // 10]
                sent += 10
                response = await client.post(url, content=body, headers=headers)
                if orjson.loads(response.content).get("FailedEntryCount"):
                    raise RuntimeError(f"PutEvents failed: {response.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return start


def _send_elsewhere(url: str, bus: str, events: int, concurrency: int, first: int) -> float:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        started: float = pool.apply(_run_send, (url, bus, events, concurrency, first))
    return started


def _run_send(url: str, bus: str, events: int, concurrency: int, first: int) -> float:
    return asyncio.run(_send(url, bus, events, concurrency, first))


def _routed(client: redis.Redis, bus: str) -> bool:
    try:
        groups: Any = client.xinfo_groups(Keys().ingest(bus))
    except redis.ResponseError:
        return False
    for group in groups:
        if group["name"] == INGEST_GROUP.encode():
            return int(group["pending"]) == 0 and int(group.get("lag") or 0) == 0
    return False


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_sent_bodies = 0
"""Request bodies sent so far (each run sends new Details, so no compressor meets an event it was trained on)."""


def _ingest_rate(
    url: str, client: redis.Redis, bus: str, events: int, concurrency: int, *, pid: int, redis_pid: int
) -> tuple[float, float, float]:
    """(routed events/s, router CPU µs per event, redis-server CPU µs per event) for `events` events PutEvents'd
    into `bus` (the CPU counted from before the sender starts: the router's idle rounds meanwhile count too)."""
    global _sent_bodies
    cpu, redis_cpu = _cpu_s(pid), _cpu_s(redis_pid)
    start = _send_elsewhere(url, bus, events, concurrency, _sent_bodies)
    _sent_bodies += events // 10
    while not _routed(client, bus):
        time.sleep(0.01)
    return (
        events / (time.time() - start),
        (_cpu_s(pid) - cpu) / events * 1e6,
        (_cpu_s(redis_pid) - redis_cpu) / events * 1e6,
    )


def _dictionary(client: redis.Redis, dicts_key: str) -> codec.Dictionary | None:
    """The archive's newest compression dictionary (archive.dictionaries), None before one is trained."""
    found: Any = client.hgetall(dicts_key)
    if not found:
        return None
    newest = max(int(i) for i in found)
    return codec.Dictionary(newest, found[str(newest).encode()])


def _train(redis_url: str, events_key: str, dicts_key: str) -> None:
    """Train the archive's dictionary as a router's maintenance round would (a --skip-ingest run has no router
    that archived events first)."""
    from archive.background import ArchiveOptions
    from archive.dictionaries import Dictionaries
    from router.redis_client import client as async_client

    async def train() -> None:
        redis_client = async_client(redis_url)
        options = ArchiveOptions()
        await Dictionaries().maintain(
            redis_client,
            events_key,
            dicts_key,
            min_events=options.dictionary_min_events,
            samples=options.dictionary_samples,
            dictionary_bytes=options.dictionary_bytes,
        )
        await redis_client.aclose()

    asyncio.run(train())


def _fill(client: redis.Redis, redis_url: str, record: dict[str, Any], upto: int, *, dictionaries: bool) -> None:
    """Top the archive up to `upto` events the way `switchboard archive import` does: with the archive's dictionary
    (trained first, if the archive has none yet, once 1,000 events are in)."""
    keys = ArchiveKeys(Keys())
    events_key = keys.events(record["EventBusName"], record["ArchiveName"], record["Generation"])
    stats_key = keys.stats(record["EventBusName"], record["ArchiveName"], record["Generation"])
    dicts_key = keys.dicts(record["EventBusName"], record["ArchiveName"], record["Generation"])
    have = int(client.zcard(events_key))
    base_s = time.time() - 3600
    n = have
    dictionary = _dictionary(client, dicts_key)
    while n < upto:
        if dictionary is None and dictionaries and n >= 1000:
            _train(redis_url, events_key, dicts_key)
            dictionary = _dictionary(client, dicts_key)
        members: dict[bytes, int] = {}
        size = 0
        for i in range(n, min(n + (5000 if n >= 1000 else 1000 - n), upto)):
            head = {
                "version": "0", "id": f"00000000-0000-4000-8000-{i:012d}", "detail-type": "OrderPlaced",
                "source": "bench.archive", "account": ACCOUNT,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base_s + i / 1000)),
                "region": REGION, "resources": [],
            }  # fmt: skip
            event = orjson.dumps(head)[:-1] + b',"detail":' + orjson.dumps(_detail(i)) + b"}"
            time_ms = codec.event_time_ms(event) or 0
            members[codec.encode(event, time_ms, 0, codec.import_seq(event), dictionary)] = 0
            size += len(event)
        client.zadd(events_key, members)
        client.hincrby(stats_key, "bytes", size)
        n += len(members)


@contextlib.contextmanager
def redis_server(prefix: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A throwaway redis-server without persistence (its process and URL), stopped and removed at the end; exits
    when none is installed."""
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server is not installed")
    data = Path(tempfile.mkdtemp(prefix=prefix))
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(data)],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield proc, f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _ingest_phase(url: str, client: redis.Redis, args: argparse.Namespace, pids: dict[str, int]) -> None:
    """Ingest into bus `off` (no archive) and bus `on` (archived), alternating; prints the medians."""
    _ingest_rate(url, client, "off", 2000, args.concurrency, **pids)  # warm up both paths
    _ingest_rate(url, client, "on", 2000, args.concurrency, **pids)
    if not args.no_dictionary:  # measure the steady state: the archive's dictionary trained and in use
        record = orjson.loads(client.hget(ArchiveKeys(Keys()).archives, "bench") or b"{}")
        dicts_key = ArchiveKeys(Keys()).dicts("on", "bench", record["Generation"])
        while not client.exists(dicts_key):
            time.sleep(0.2)
        time.sleep(1.5)
    runs: dict[str, list[tuple[float, float, float]]] = {"off": [], "on": []}
    for n in range(args.rounds):  # alternate (and swap the order every round): drifting load hits both alike
        for bus in ("off", "on") if n % 2 == 0 else ("on", "off"):
            runs[bus].append(_ingest_rate(url, client, bus, args.ingest_events, args.concurrency, **pids))
    off, on = (statistics.median(r[0] for r in runs[b]) for b in ("off", "on"))
    off_cpu, on_cpu = (statistics.median(r[1] for r in runs[b]) for b in ("off", "on"))
    off_all, on_all = (statistics.median(r[1] + r[2] for r in runs[b]) for b in ("off", "on"))
    paired = statistics.median(b[1] / a[1] - 1 for a, b in zip(runs["off"], runs["on"], strict=True))
    archived = _call(url, "DescribeArchive", {"ArchiveName": "bench"})
    print(
        f"ingest ({args.rounds} alternating rounds of {args.ingest_events:,} events, medians): archive off "
        f"{off:,.0f} events/s, {off_cpu:,.0f} µs router CPU per event; on {on:,.0f} events/s, {on_cpu:,.0f} µs; "
        f"cost {1 - on / off:.1%} in throughput, {on_cpu / off_cpu - 1:.1%} in router CPU per event "
        f"(median of the rounds' on/off ratios {paired:.1%}); router + redis-server CPU per event "
        f"{off_all:,.0f} -> {on_all:,.0f} µs ({on_all / off_all - 1:.1%})"
    )
    for bus in ("off", "on"):
        shown = ", ".join(f"{r:,.0f}/s {c:,.0f}+{rc:,.0f} µs" for r, c, rc in runs[bus])
        print(f"  {bus} rounds (events/s, router+redis CPU per event): {shown}")
    print(f"  archived on ingest: {archived['EventCount']:,} events ({archived['SizeBytes']:,} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="archive size for the memory and replay runs")
    parser.add_argument("--ingest-events", type=int, default=100_000, help="events per ingest run (off, on)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="alternating off/on ingest rounds (medians reported)")
    parser.add_argument("--page-events", type=int, default=0, help="replay page size (default: ArchiveOptions')")
    parser.add_argument("--skip-ingest", action="store_true", help="only the fill and the replay")
    parser.add_argument("--no-dictionary", action="store_true", help="archives without compression dictionaries")
    args = parser.parse_args()
    with redis_server("archive-bench-") as (redis_proc, redis_url):
        _run(args, redis_proc, redis_url)


def _run(args: argparse.Namespace, redis_proc: subprocess.Popen[bytes], redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        router, url = _router(redis_url, ingest=True, backlog=100_000, no_dictionary=args.no_dictionary)
        procs.append(router)
        for bus in ("off", "on"):
            _add_rules(url, bus)
        bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/on"
        _call(url, "CreateArchive", {"ArchiveName": "bench", "EventSourceArn": bus_arn})
        pids = {"pid": router.pid, "redis_pid": redis_proc.pid}
        if not args.skip_ingest:
            _ingest_phase(url, client, args, pids)
        router.terminate()
        router.wait(timeout=30)
        procs.remove(router)

        record = orjson.loads(client.hget(ArchiveKeys(Keys()).archives, "bench") or b"{}")
        used_before = int(client.info("memory")["used_memory"])
        _fill(client, redis_url, record, args.events, dictionaries=not args.no_dictionary)
        archived_keys = ArchiveKeys(Keys())
        events_key = archived_keys.events("on", "bench", record["Generation"])
        stats_key = archived_keys.stats("on", "bench", record["Generation"])
        dicts_key = archived_keys.dicts("on", "bench", record["Generation"])
        memory = sum(int(client.memory_usage(key, samples=0) or 0) for key in (events_key, stats_key, dicts_key))
        by_codec: dict[int, int] = {}
        sampled: Any = client.zrandmember(events_key, 2000) or []
        for member in sampled:
            by_codec[member[codec.HEAD_BYTES - 1]] = by_codec.get(member[codec.HEAD_BYTES - 1], 0) + 1
        count = int(client.zcard(events_key))
        envelope = int(client.hget(stats_key, "bytes") or 0) / count
        print(
            f"archive: {count:,} events, mean envelope {envelope:,.0f} bytes; Redis {memory / count:,.0f} bytes per "
            f"event ({memory / count / envelope:.2f}x the envelope); used_memory grew "
            f"{(int(client.info('memory')['used_memory']) - used_before) / 1e6:,.0f} MB during the fill; codecs of "
            f"2,000 random members: {dict(sorted(by_codec.items()))} (0 raw, 1 zstd, 2 zstd with the dictionary)"
        )

        replayer, url = _router(
            redis_url, ingest=False, backlog=args.events * 2, page=args.page_events, no_dictionary=args.no_dictionary
        )
        procs.append(replayer)
        _add_rules(url, "dest")
        rss: list[int] = [_rss_kb(replayer.pid)]
        start, replay_cpu, redis_cpu = time.perf_counter(), _cpu_s(replayer.pid), _cpu_s(redis_proc.pid)
        _call(url, "StartReplay", {
            "ReplayName": "bench", "EventSourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:archive/bench",
            "EventStartTime": 0, "EventEndTime": time.time() + 3600,
            "Destination": {"Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/dest"},
        })  # fmt: skip
        while True:
            state = _call(url, "DescribeReplay", {"ReplayName": "bench"})["State"]
            rss.append(_rss_kb(replayer.pid))
            if state in ("COMPLETED", "FAILED", "CANCELLED"):
                break
            time.sleep(0.2)
        seconds, replay_cpu = time.perf_counter() - start, _cpu_s(replayer.pid) - replay_cpu
        redis_cpu = _cpu_s(redis_proc.pid) - redis_cpu
        appended = int(client.xlen(Keys().ingest("dest")))
        print(
            f"replay: {state}, {appended:,} events appended in {seconds:.1f} s = {appended / seconds:,.0f} events/s "
            f"(replaying process CPU {replay_cpu / max(appended, 1) * 1e6:,.1f} µs per event, redis-server "
            f"{redis_cpu / max(appended, 1) * 1e6:,.1f} µs)"
        )
        print(
            f"  replaying process RSS: start {rss[0] / 1024:,.0f} MB, max {max(rss) / 1024:,.0f} MB, growth "
            f"{(max(rss) - rss[0]) / 1024:,.0f} MB ({len(rss)} samples)"
        )
        print(
            f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"redis-server {client.info('server')['redis_version']}, {time.strftime('%Y-%m-%d')}"
        )
    finally:
        for proc in procs:
            proc.kill()
        client.close()


if __name__ == "__main__":
    main()
