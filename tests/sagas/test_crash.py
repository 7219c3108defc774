"""Crashes: the saga and the services run in a child process (`python -m sagas.examples.order_to_cash worker`),
which is killed with kill -9 in the middle of a run, or kills itself right after a commit and before dispatching
that commit's outbox. Another process takes over; every check of the demo holds and every order ends as it must.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from sagas.examples.order_to_cash import order_to_cash
from sagas.examples.order_to_cash.demo import settled_check
from sagas.examples.order_to_cash.services import Services
from sagas.examples.order_to_cash.shop import FAULTS, Order, Shop, plan
from sagas.keys import SagaKeys
from sagas.publish import PutEventsPublisher
from tests.sagas.conftest import TEST_CONSUMER, TEST_TIMINGS
from tests.sagas.test_order_to_cash import ALL_TRUE
from tests.waiting import eventually, eventually_sync

pytestmark = pytest.mark.integration

CRASH_TIMINGS = dataclasses.replace(TEST_TIMINGS, reply_timeout_s=8.0, approval_timeout_s=30.0, shipping_window_s=30.0)
"""Windows longer than the outage a crash causes (takeover after 1.5-2 s, a new process's start), so that every
order still ends as its fault says; the faults whose point is to wait a window out are left out of these runs."""
CRASH_FAULTS = [f for f in FAULTS if f not in ("provider-down", "approval-absent")]


class Worker:
    """The example's worker process, with fast takeover (messages after 1.5 s, timers after 2 s)."""

    def __init__(self, redis_url: str, endpoint: str, log_dir: Path, *extra: str) -> None:
        self.log_path = log_dir / f"worker-{os.urandom(3).hex()}.log"
        self._log = self.log_path.open("wb")
        timings = orjson.dumps(dataclasses.asdict(CRASH_TIMINGS)).decode()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sagas.examples.order_to_cash",
                "worker",
                "--redis-url",
                redis_url,
                "--endpoint",
                endpoint,
                "--timings",
                timings,
                "--claim-idle-s",
                "1.5",
                "--timer-lease-s",
                "2",
                "--timer-poll-interval-s",
                "0.02",
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> Worker:
        eventually_sync(lambda: "ready" in self.output() or self.proc.poll() is not None, 60, what="the worker")
        assert self.proc.poll() is None, self.output()
        return self

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextlib.contextmanager
def workers(redis_url: str, endpoint: str, log_dir: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


async def judge(redis: Any, endpoint: str, orders: list[Order]) -> dict[str, Any]:
    publisher = PutEventsPublisher(endpoint)
    try:
        return await settled_check(
            redis, "sb", order_to_cash(CRASH_TIMINGS), orders, Services(redis, publisher), settle_s=15
        )
    finally:
        await publisher.aclose()


async def test_kill_9_of_a_consumer_mid_run_loses_and_repeats_nothing(
    saga_redis: Any, o2c_router: str, redis_url: str, tmp_path: Path
) -> None:
    orders = plan(300, seed=21, faults=0.3, kinds=CRASH_FAULTS)
    publisher = PutEventsPublisher(o2c_router)
    shop = Shop(saga_redis, publisher, options=TEST_CONSUMER)
    await shop.start()
    try:
        with workers(redis_url, o2c_router, tmp_path) as running:
            running.append(Worker(redis_url, o2c_router, tmp_path).wait_ready())
            run = asyncio.create_task(shop.run(orders, in_flight=150, timeout_s=120))
            await eventually(lambda: shop.finished(orders) >= 60, 60, what="a fifth of the orders to finish")
            running[0].kill()
            assert running[0].proc.returncode == -signal.SIGKILL
            finished_at_kill = shop.finished(orders)
            assert finished_at_kill < len(orders)
            running.append(Worker(redis_url, o2c_router, tmp_path).wait_ready())
            assert await run, f"{shop.finished(orders)} of {len(orders)} orders finished"
            summary = await judge(saga_redis, o2c_router, orders)
    finally:
        await shop.stop()
        await publisher.aclose()
    assert summary["checks"] == ALL_TRUE, (summary["checks"], summary["pending"], summary["unexpected"])
    assert sum(summary["final_states"].values()) == len(orders)


async def test_a_crash_between_commit_and_dispatch_loses_no_message(
    saga_redis: Any, o2c_router: str, redis_url: str, tmp_path: Path
) -> None:
    orders = plan(40, seed=22, faults=0.0)
    publisher = PutEventsPublisher(o2c_router)
    shop = Shop(saga_redis, publisher, options=TEST_CONSUMER)
    await shop.start()
    keys = SagaKeys()
    try:
        with workers(redis_url, o2c_router, tmp_path) as running:
            crashing = Worker(redis_url, o2c_router, tmp_path, "--crash-after-commits", "25").wait_ready()
            running.append(crashing)
            run = asyncio.create_task(shop.run(orders, in_flight=40, timeout_s=120))
            await asyncio.to_thread(crashing.proc.wait, 60)
            assert crashing.proc.returncode == -signal.SIGKILL, crashing.output()
            line = next(x for x in crashing.output().splitlines() if x.startswith("crashing after commit 25"))
            crashed = line.split(": ", 1)[1].split()[0].split("/", 1)[1]
            outbox = await saga_redis.hgetall(keys.outbox("order-to-cash", crashed))
            assert outbox, "the crash left the committed messages in the outbox"
            left = sorted(m["id"] for m in map(orjson.loads, outbox.values()) if "id" in m)
            running.append(Worker(redis_url, o2c_router, tmp_path).wait_ready())
            assert await run, f"{shop.finished(orders)} of {len(orders)} orders finished"
            summary = await judge(saga_redis, o2c_router, orders)
    finally:
        await shop.stop()
        await publisher.aclose()
    assert summary["checks"] == ALL_TRUE, (summary["checks"], summary["pending"], summary["unexpected"])
    history = [orjson.loads(e) for e in await saga_redis.lrange(keys.history("order-to-cash", crashed), 0, -1)]
    sent = {s["id"] for entry in history for s in entry.get("sent", [])}
    assert set(left) & sent, "the messages left behind were the ones the crashed commit sent"
    assert await saga_redis.hlen(keys.outbox("order-to-cash", crashed)) == 0
