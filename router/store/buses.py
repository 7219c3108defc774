"""`RedisBusStore`: the bus registry (`sb:{meta}:buses`) and each bus's `exists` marker.

Creating a bus sets the marker in the bus's own slot first, then adds the registry entry with HSETNX (which is
what decides "already exists"); deleting runs the "no rules left" check and removes the marker in one script in
the bus slot, then drops the registry entry. Either order leaves a retry able to finish the job, and a rule
write can never land on a bus that is being deleted (see `router.keys`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from router.errors import InternalException, ValidationException
from router.keys import Keys
from router.quotas import limit_exceeded
from router.store.protocol import Record
from router.store.scripts import BUS_CAS, BUS_REGISTER, CAS_ATTEMPTS, DELETE_BUS_MARKER, redis_errors, status


class RedisBusStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys, max_buses: int = 0) -> None:
        self._redis = redis
        self._keys = keys
        self._max_buses = max_buses
        self._delete_marker = redis.register_script(DELETE_BUS_MARKER)
        self._cas = redis.register_script(BUS_CAS)
        self._register = redis.register_script(BUS_REGISTER)

    async def ensure(self, record: Record) -> None:
        await self._create(record, limit=0)

    async def create(self, record: Record) -> bool:
        return await self._create(record, limit=self._max_buses)

    async def _create(self, record: Record, *, limit: int) -> bool:
        """The event-buses quota is checked twice: before the marker is set (so a refused bus leaves no key),
        and atomically with the registry entry (so concurrent creates never overshoot it)."""
        name = record["Name"]
        registry = self._keys.buses
        with redis_errors("CreateEventBus"):
            full = limit > 0 and await self._redis.hlen(registry) >= limit
            if full and not await self._redis.hexists(registry, name):
                raise limit_exceeded()
            await self._redis.set(self._keys.bus_exists(name), b"1")
            outcome = status(await self._register(keys=[registry], args=[name, orjson.dumps(record), limit]))
            if outcome == "LIMIT":  # another bus was created meanwhile: take the marker back
                await self._redis.delete(self._keys.bus_exists(name))
                raise limit_exceeded()
        return outcome == "OK"

    async def get(self, name: str) -> Record | None:
        with redis_errors("read bus"):
            raw = await self._redis.hget(self._keys.buses, name)
        return _load(raw) if raw is not None else None

    async def all(self) -> list[Record]:
        with redis_errors("list buses"):
            raw = await self._redis.hgetall(self._keys.buses)
        return [_load(value) for _, value in sorted(raw.items())]

    async def delete(self, name: str) -> None:
        keys = [self._keys.bus_exists(name), self._keys.rules(name), self._keys.version(name)]
        with redis_errors("DeleteEventBus"):
            outcome = status(await self._delete_marker(keys=keys))
            if outcome == "HASRULES":
                raise ValidationException("EventBus can't be deleted since it has rules.")
            await self._redis.hdel(self._keys.buses, name)

    async def update(self, name: str, mutate: Callable[[Record], Record]) -> Record | None:
        for _ in range(CAS_ATTEMPTS):
            with redis_errors("update bus"):
                raw = await self._redis.hget(self._keys.buses, name)
                if raw is None:
                    return None
                new = mutate(_load(raw))
                outcome = status(await self._cas(keys=[self._keys.buses], args=[name, raw, orjson.dumps(new)]))
            if outcome == "OK":
                return new
            if outcome == "NOBUS":
                return None
        raise InternalException("The event bus is being changed concurrently; try again.")


def _load(raw: Any) -> Record:
    record: Record = orjson.loads(raw)
    return record
