"""Durable timers benchmark: how fast due timers are claimed, handled and completed (router.timers).

A throwaway redis-server (no persistence) holds `--timers` timers of one owner, all due. `--runners` TimerRunners
(each with its own Redis connection, in one process and event loop) fire them with a handler that appends one
stream entry per firing and reschedules nothing, as a scheduled rule's tick does. Reported: firings per second
(wall clock from the first claim to the last completion), this process's CPU time per firing, and a check that
every timer fired exactly once (stream length == timers, nothing left in the sorted set).

    .venv/bin/python -m bench.timers_bench --timers 20000 --runners 1
    .venv/bin/python -m bench.timers_bench --timers 20000 --runners 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import tempfile
import time

import redis.asyncio as aioredis

from bench._procs import free_port
from router.keys import Keys
from router.timers import Completion, DueTimer, ManualClock, RunnerOptions, TimerRunner, Timers

OWNER = "bench:timers"
NOW_MS = 1_900_000_000_000


async def _run(url: str, count: int, runners: int, batch: int) -> dict[str, float]:
    keys = Keys("bench")
    setup = aioredis.Redis.from_url(url)
    await setup.flushall()
    timers = Timers(setup, keys)
    async with setup.pipeline(transaction=False) as pipe:
        for i in range(count):
            pipe.zadd(keys.timers(OWNER), {f"t{i}": NOW_MS - count + i})
        await pipe.execute()
    await setup.sadd(keys.timer_owners, OWNER)
    out_key = f"bench:{{{OWNER}}}:out"

    async def handler(timer: DueTimer) -> Completion:
        return Completion([("XADD", out_key, "*", "k", timer.key)])

    clients = [aioredis.Redis.from_url(url) for _ in range(runners)]
    workers = [
        TimerRunner(Timers(client, keys), ManualClock(NOW_MS), {"bench": handler}, RunnerOptions(batch=batch))
        for client in clients
    ]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker.run_once([OWNER]) for worker in workers))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    fired = sum(worker.fired for worker in workers)
    appended = await setup.xlen(out_key)
    left = await setup.zcard(keys.timers(OWNER))
    for client in clients:
        await client.aclose()
    await timers.redis.aclose()
    if not fired == appended == count or left:
        raise SystemExit(f"not exactly once: fired {fired}, appended {appended}, left {left} of {count}")
    return {"fired": fired, "wall_s": wall, "per_s": fired / wall, "cpu_us_per_firing": cpu / fired * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timers", type=int, default=20_000)
    ap.add_argument("--runners", type=int, default=1)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", data],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.3)
            result = asyncio.run(_run(f"redis://127.0.0.1:{port}/0", args.timers, args.runners, args.batch))
        finally:
            server.terminate()
            server.wait()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; timers={args.timers} "
        f"runners={args.runners} batch={args.batch}: {result['per_s']:,.0f} firings/s "
        f"({result['wall_s']:.2f} s), {result['cpu_us_per_firing']:.0f} us CPU per firing in the router process, "
        "every timer fired exactly once"
    )


if __name__ == "__main__":
    main()
