"""The Redis client a saga process uses: bounded, and waiting for a free connection instead of failing.

A runtime handles many inputs at once (`ConsumerOptions.max_in_flight` per queue), each a few commands, plus a
blocking read per queue. redis-py's default pool raises "Too many connections" past its limit; this client holds at
most `max_connections` and makes a caller wait for one (up to `wait_timeout_s`), so a burst is queued, not failed.
Commands are packed by hiredis (router.redis_client).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import BlockingConnectionPool

from router.redis_client import HiredisConnection

__all__ = ["connect"]


def connect(url: str, *, max_connections: int = 64, wait_timeout_s: float = 30.0) -> aioredis.Redis:
    pool: Any = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=wait_timeout_s)
    if pool.connection_class is aioredis.Connection:
        pool.connection_class = HiredisConnection
    return aioredis.Redis.from_pool(pool)
