"""Helpers for the control-plane tests (buses, rules, targets, tags): the app without its data-plane workers.

These tests exercise the API and the Redis state it leaves behind. They run the real app (routing, validation,
handlers, start-up hooks, real redis-server) but with `ingest=False`, so no ingest or delivery worker runs next
to them: the key sets they assert are then exactly the control plane's, and a worker's shutdown cannot stall them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import redis.asyncio as aioredis

from router.app import create_app
from tests.conftest import all_keys
from tests.router.conftest import Api, ServerThread, make_settings, serving

ARN = "arn:aws:events:us-east-1:123456789012"
PATTERN = '{"source": ["orders"]}'

EVENT: dict[str, Any] = {
    "id": "1",
    "account": "123456789012",
    "source": "orders",
    "time": "2024-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail-type": "Order Placed",
    "detail": {"total": 12},
}
"""An event (TestEventPattern's `Event`) that PATTERN matches."""


@contextlib.asynccontextmanager
async def control_api(redis_url: str, **settings: Any) -> AsyncIterator[Api]:
    app = create_app(make_settings(redis_url, **settings), ingest=False)
    async with serving(app) as api:
        yield api


@contextlib.contextmanager
def control_server(redis_url: str) -> Iterator[ServerThread]:
    server = ServerThread(create_app(make_settings(redis_url), ingest=False))
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def control_keys(redis: aioredis.Redis) -> list[bytes]:
    """Every key in Redis, sorted."""
    return sorted(await all_keys(redis))


async def hash_json(redis: aioredis.Redis, key: str) -> dict[str, Any]:
    """A hash of JSON records, decoded: field -> record."""
    raw = await redis.hgetall(key)
    return {_bytes(field).decode(): orjson.loads(value) for field, value in raw.items()}


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def target(target_id: str, **extra: object) -> dict[str, object]:
    return {"Id": target_id, "Arn": f"arn:aws:sqs:us-east-1:123456789012:{target_id}", **extra}
