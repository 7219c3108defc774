"""Where the archive's ingest cost goes: the ingest worker's routing of one batch (`IngestWorker._route`), in this
process, on bus `off` (100 rules, 10 matching, no archive) and bus `on` (the same plus an archive of every event),
with the real delivery sink and the real archive target on a throwaway redis-server. Not a test; a breakdown that
bench/archive_bench.py (whole router processes, PutEvents included) cannot give.

Each round appends `--batch` events (~1 KB envelopes, every Detail different, none of them among those the
archive's dictionary was trained on) to each bus's ingest stream, reads them as the ingest group would, and routes
them, timing the thread's CPU (`time.thread_time`) of the whole `_route` and of its parts (matching, the sink's
stage, its flush, where per-batch internal targets such as the archive's run, and the settle script call); off and
on alternate (the order swapped every round) and the medians per event are reported. A router process (no ingest
worker) serves the API that creates the buses, rules and archive.

    .venv/bin/python -m bench.archive_route_bench                 # batches of 50, with the dictionary
    .venv/bin/python -m bench.archive_route_bench --batch 10 --no-dictionary
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import zstandard

from archive import codec
from archive.dictionaries import DICTIONARIES
from archive.keys import ArchiveKeys
from archive.target import ARCHIVE_TARGET, KIND
from bench.archive_bench import ACCOUNT, REGION, _add_rules, _call, _detail, _router, redis_server
from router import redis_client
from router.arns import Arns
from router.delivery.sink import DeliverySink
from router.envelope import build_envelope
from router.ingest import IngestWorker
from router.keys import INGEST_GROUP, Keys
from router.matchers import MatcherCache

_PARTS = ("match", "stage", "flush", "settle")


def _envelopes(start: int, count: int) -> list[bytes]:
    out = []
    for n in range(start, start + count):
        entry = {"Source": "bench.archive", "DetailType": "OrderPlaced", "Detail": orjson.dumps(_detail(n)).decode()}
        out.append(build_envelope(entry, account=ACCOUNT, region=REGION, now_s=time.time())[1])
    return out


async def _measure(redis_url: str, batch: int, rounds: int, dictionary: bool) -> None:
    redis = redis_client.connect(redis_url)
    keys = Keys()
    sink = DeliverySink(redis, keys, Arns(REGION, ACCOUNT), internal={KIND: ARCHIVE_TARGET})
    worker = IngestWorker(redis, keys, MatcherCache(redis, keys, 60.0), sink=sink, consumer="bench")
    spent: dict[str, float] = {}

    def timed_sync(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return call(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.thread_time() - start

        return run

    def timed(name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def run(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return await call(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.thread_time() - start

        return run

    setattr(sink, "stage", timed_sync("stage", sink.stage))  # noqa: B010 - instrumenting the instance
    setattr(sink, "flush", timed("flush", sink.flush))  # noqa: B010
    setattr(worker, "_settle", timed("settle", worker._settle))  # noqa: B010
    setattr(worker, "_match_all", timed("match", worker._match_all))  # noqa: B010
    if dictionary:  # as the maintenance round would: trained on the archive's first events, none of those sent below
        record = orjson.loads(await redis.hget(ArchiveKeys(keys).archives, "bench") or b"{}")
        samples = list[bytes | bytearray | memoryview](_envelopes(0, 1000))
        trained = codec.Dictionary(1, zstandard.train_dictionary(16_384, samples).as_bytes())
        DICTIONARIES.current[ArchiveKeys(keys).events("on", "bench", record["Generation"])] = trained
    for bus in ("off", "on"):
        await redis.xgroup_create(keys.ingest(bus), INGEST_GROUP, id="0", mkstream=True)
    totals: dict[str, list[float]] = {"off": [], "on": []}
    parts: dict[str, dict[str, list[float]]] = {"off": {}, "on": {}}
    sent = 1000
    for n in range(rounds + 1):  # round 0 warms up
        for bus in ("off", "on") if n % 2 == 0 else ("on", "off"):
            stream = keys.ingest(bus)
            async with redis.pipeline(transaction=False) as pipe:
                for event in _envelopes(sent, batch):
                    pipe.xadd(stream, {"event": event})
                await pipe.execute()
            sent += batch
            read: Any = await redis.xreadgroup(INGEST_GROUP, "bench", {stream: ">"}, count=batch)
            spent.clear()
            start = time.thread_time()
            await worker._route(bus, stream, read[0][1])
            if n > 0:
                totals[bus].append((time.thread_time() - start) / batch * 1e6)
                for name in _PARTS:
                    parts[bus].setdefault(name, []).append(spent.get(name, 0.0) / batch * 1e6)
    off, on = (statistics.median(totals[bus]) for bus in ("off", "on"))
    print(
        f"_route thread CPU per event (batches of {batch}, medians of {rounds}, dictionary {dictionary}): "
        f"off {off:.1f} µs, on {on:.1f} µs, the archive {on - off:.1f} µs"
    )
    for name in _PARTS:
        part_off, part_on = (statistics.median(parts[bus][name]) for bus in ("off", "on"))
        print(f"  {name}: off {part_off:.1f} µs, on {part_on:.1f} µs")
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=50, help="events per routed batch")
    parser.add_argument("--rounds", type=int, default=40, help="alternating off/on batches (medians reported)")
    parser.add_argument("--no-dictionary", action="store_true", help="plain zstd (no trained dictionary)")
    args = parser.parse_args()
    with redis_server("archive-route-bench-") as (_, redis_url):
        _run(args, redis_url)


def _run(args: argparse.Namespace, redis_url: str) -> None:
    router: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(0.5)
        router, url = _router(redis_url, ingest=False, backlog=10**6, no_dictionary=True)
        for bus in ("off", "on"):
            _add_rules(url, bus)
        _call(
            url,
            "CreateArchive",
            {"ArchiveName": "bench", "EventSourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/on"},
        )
        asyncio.run(_measure(redis_url, args.batch, args.rounds, not args.no_dictionary))
    finally:
        if router is not None:
            router.kill()


if __name__ == "__main__":
    main()
