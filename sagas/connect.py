"""The Redis client a saga process uses: bounded, and waiting for a free connection instead of failing.

A runtime handles many inputs at once (`ConsumerOptions.max_in_flight` per queue), each a few commands, plus a
blocking read per queue. redis-py's default pool raises "Too many connections" past its limit; this client holds at
most `max_connections` and makes a caller wait for one (up to `wait_timeout_s`), so a burst is queued, not failed.
Commands are packed by hiredis (router.redis_client).
"""

from __future__ import annotations

from router import redis_client
from router.redis_client import AnyRedis

__all__ = ["connect"]


def connect(url: str, *, max_connections: int = 64, wait_timeout_s: float = 30.0) -> AnyRedis:
    """A Redis Cluster at `url` is detected, as the router does (router.redis_client.connect)."""
    return redis_client.connect(url, max_connections=max_connections, wait_timeout_s=wait_timeout_s)
