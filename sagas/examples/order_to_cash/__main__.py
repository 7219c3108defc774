"""`python -m sagas.examples.order_to_cash worker ...`: the saga and the services as one long-running process.

The demo runs them inside its own process; this runs them alone, so several processes can share the work (and a
test can kill one with kill -9):

    python -m sagas.examples.order_to_cash worker --redis-url redis://127.0.0.1:6379/0 \\
        --endpoint http://127.0.0.1:4010 [--prefix sb] [--timings JSON] [--no-saga] [--no-services]

It prints `ready` on stdout once it consumes, and runs until SIGTERM or SIGINT. `--crash-after-commits N` is a
fault to inject: the process kills itself (SIGKILL) right after its Nth commit, before that commit's messages are
dispatched, which is the crash an outbox exists for. `--claim-idle-s` and `--timer-lease-s` set how soon another
process takes over a dead one's messages and timers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import sys

import orjson

from sagas.connect import connect
from sagas.consumer import ConsumerOptions
from sagas.examples.order_to_cash.definition import Timings, order_to_cash
from sagas.examples.order_to_cash.demo import DEMO_TIMINGS
from sagas.examples.order_to_cash.services import Services
from sagas.instance import Instance
from sagas.machine import Definition
from sagas.publish import PutEventsPublisher
from sagas.runtime import RuntimeHooks, RuntimeOptions, SagaRuntime


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sagas.examples.order_to_cash", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run the saga and the services until stopped")
    worker.add_argument("--redis-url", required=True)
    worker.add_argument("--endpoint", required=True, help="the router's URL (PutEvents)")
    worker.add_argument("--prefix", default="sb")
    worker.add_argument("--timings", default=None, help="a JSON object of Timings fields (default: the demo's)")
    worker.add_argument("--no-saga", action="store_true")
    worker.add_argument("--no-services", action="store_true")
    worker.add_argument("--crash-after-commits", type=int, default=0)
    worker.add_argument("--claim-idle-s", type=float, default=10.0)
    worker.add_argument("--timer-lease-s", type=float, default=30.0)
    worker.add_argument("--timer-poll-interval-s", type=float, default=0.05)
    return parser


async def _worker(args: argparse.Namespace) -> None:
    timings = DEMO_TIMINGS
    if args.timings:
        timings = dataclasses.replace(Timings(), **orjson.loads(args.timings))
    consumer = ConsumerOptions(claim_idle_s=args.claim_idle_s, claim_interval_s=min(2.0, args.claim_idle_s / 2))
    options = RuntimeOptions(
        consumer=consumer, timer_lease_s=args.timer_lease_s, timer_poll_interval_s=args.timer_poll_interval_s
    )
    commits = 0

    async def after_commit(definition: Definition, instance: Instance) -> None:
        nonlocal commits
        commits += 1
        if commits == args.crash_after_commits:
            print(f"crashing after commit {commits}: {instance.saga}/{instance.id} {instance.state}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    redis = connect(args.redis_url)
    publisher = PutEventsPublisher(args.endpoint)
    runtime = SagaRuntime(
        redis,
        [order_to_cash(timings)],
        publisher,
        prefix=args.prefix,
        options=options,
        hooks=RuntimeHooks(after_commit=after_commit if args.crash_after_commits else None),
    )
    services = Services(redis, publisher, prefix=args.prefix, options=consumer, batch=runtime.batch)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        if not args.no_services:
            await services.start()
        if not args.no_saga:
            await runtime.start()
        print("ready", flush=True)
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await runtime.stop()
        with contextlib.suppress(Exception):
            await services.stop()
        await publisher.aclose()
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    asyncio.run(_worker(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
