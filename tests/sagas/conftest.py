"""Fixtures for the sagas: the router (a real uvicorn on 127.0.0.1) with the order-to-cash rules applied, and the
example (saga, services, shop) running in the test's event loop against it and the session's real redis-server."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from router.app import create_app
from router.config import load_dir
from router.settings import Settings
from sagas.connect import connect
from sagas.consumer import ConsumerOptions
from sagas.examples.order_to_cash import Timings
from sagas.examples.order_to_cash.demo import CONFIG_DIR, DemoOptions, Example
from tests.router.conftest import ServerThread

TEST_TIMINGS = Timings(
    reply_timeout_s=4.0,
    approval_timeout_s=2.0,
    shipping_retry_interval_s=0.1,
    shipping_backoff_rate=2.0,
    shipping_max_interval_s=0.5,
    shipping_window_s=6.0,
    compensation_retry_interval_s=0.1,
    compensation_max_attempts=5,
)
"""Short enough for tests, long enough that a loaded shared machine does not time a healthy service out."""

TEST_CONSUMER = ConsumerOptions(block_ms=200, claim_idle_s=2.0, claim_interval_s=0.5)


def example_options(**overrides: Any) -> DemoOptions:
    base = DemoOptions(
        timings=TEST_TIMINGS, consumer=TEST_CONSUMER, timeout_s=60.0, timer_poll_interval_s=0.02, in_flight=100
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def o2c_router(redis_url: str) -> Iterator[str]:
    """A router with the example's rules (config/order-to-cash.yaml) applied; yields its URL."""
    app = create_app(Settings(redis_url=redis_url), config=load_dir(CONFIG_DIR))
    server = ServerThread(app)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
async def saga_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """The bounded client a saga process uses (sagas.connect)."""
    client = connect(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def example(saga_redis: aioredis.Redis, o2c_router: str) -> AsyncIterator[Example]:
    async with Example(saga_redis, o2c_router, options=example_options()) as running:
        yield running
