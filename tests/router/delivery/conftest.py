"""Fixtures for delivery tests: the app in process with a fast backoff and a clock the test can move forward,
a real HTTP receiver, and helpers to set up a rule, publish events and read queues."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from router.app import create_app
from router.delivery import Backoff, Delivery, WorkerOptions
from router.keys import Keys
from router.settings import Settings
from router.state import AppState
from tests.router.conftest import Api
from tests.router.delivery.receiver import Receiver
from tests.waiting import eventually

ACCOUNT = "123456789012"
REGION = "us-east-1"
KEYS = Keys()


class Clock:
    """Wall-clock time plus an offset the test can advance (event age, retry due times)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
async def dapi(redis_url: str, tmp_path: Path, clock: Clock) -> AsyncIterator[Api]:
    settings = Settings(redis_url=redis_url, data_dir=tmp_path, rules_refresh_interval_s=0.05)

    def delivery(state: AppState) -> Delivery:
        options = WorkerOptions(visibility_timeout_s=5.0, claim_interval_s=0.2, block_ms=100, lanes_refresh_s=0.1)
        return Delivery(state, clock=clock, backoff=Backoff(base_s=0.05, cap_s=0.2), options=options)

    app = create_app(settings, delivery=delivery)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            yield Api(client, app)


async def setup_rule(
    api: Api, targets: list[dict[str, Any]], *, bus: str = "default", rule: str = "r1", source: str = "shop"
) -> None:
    if bus != "default":
        await api.call("CreateEventBus", {"Name": bus})
    pattern = orjson.dumps({"source": [source]}).decode()
    await api.ok("PutRule", {"Name": rule, "EventBusName": bus, "EventPattern": pattern})
    await api.ok("PutTargets", {"Rule": rule, "EventBusName": bus, "Targets": targets})


async def put(api: Api, detail: dict[str, Any], *, bus: str = "default", source: str = "shop") -> str:
    entry = {"Source": source, "DetailType": "Test", "Detail": orjson.dumps(detail).decode(), "EventBusName": bus}
    result = await api.ok("PutEvents", {"Entries": [entry]})
    assert result["FailedEntryCount"] == 0, result
    return str(result["Entries"][0]["EventId"])


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


async def read_queue(redis: aioredis.Redis, name: str) -> list[dict[str, bytes]]:
    entries: Any = await redis.xrange(KEYS.queue(name))
    return [{k.decode(): v for k, v in fields.items()} for _, fields in entries]


async def wait_for(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0, what: str = "condition") -> None:
    await eventually(check, timeout_s, what=what)


async def queue_length(redis: aioredis.Redis, name: str) -> int:
    return int(await redis.xlen(KEYS.queue(name)))


async def counters(redis: aioredis.Redis, bus: str = "default") -> dict[str, int]:
    raw: Any = await redis.hgetall(KEYS.bus_counters(bus))
    return {k.decode(): int(v) for k, v in raw.items()}


async def settled_counters(
    redis: aioredis.Redis, at_least: dict[str, int], bus: str = "default", *, timeout_s: float = 10.0
) -> dict[str, int]:
    """The bus's counters once each field of `at_least` has reached its value. A delivery is visible (a queue
    message, a DLQ message, an HTTP request) a moment before its counters commit with the ack, so a test that reads
    counters after waiting for something else waits here first; it then asserts exact values on what this returns
    (a count past the awaited value still fails there)."""

    async def reached() -> dict[str, int] | None:
        stats = await counters(redis, bus)
        return stats if all(stats.get(field, 0) >= n for field, n in at_least.items()) else None

    stats: dict[str, int] = await eventually(reached, timeout_s, what=f"the counters of {bus} to reach {at_least}")
    return stats
