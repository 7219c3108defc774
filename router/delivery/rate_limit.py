"""`InvocationRateLimitPerSecond` of API destinations, enforced globally: across every router process.

A fixed one-second window per destination in Redis: each call `INCR`s `sb:{apidest:D}:rate:<epoch second>` (the key
expires after a few seconds); a call that finds the window full waits for the next second and tries again. So the
limit holds for the whole deployment, not per process, at the cost of one round trip per call. A fixed window can
let up to twice the limit through across a second boundary in the worst case; it never delays a call when the
destination is under its limit. Waiting callers hold their delivery slot, so a throttled destination's backlog
stays in Redis (its lane stops reading), and other targets are not affected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis.asyncio as aioredis

from router.keys import Keys

__all__ = ["RateLimiter"]

_WINDOW_TTL_S = 5

# KEYS: the window counter. ARGV: ttl. Returns the count including this call.
_TAKE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, keys: Keys, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self._take = redis.register_script(_TAKE)

    async def acquire(self, destination: str, limit_per_s: int) -> None:
        """Return once a call to `destination` fits in the current second's window."""
        while True:
            now = self.clock()
            second = int(now)
            count = int(
                await self._take(keys=[self.keys.api_destination_rate(destination, second)], args=[_WINDOW_TTL_S])
            )
            if count <= max(limit_per_s, 1):
                return
            await asyncio.sleep(max(second + 1 - now, 0.001))
