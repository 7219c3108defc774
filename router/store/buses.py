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
from router.store.protocol import Record
from router.store.scripts import BUS_CAS, CAS_ATTEMPTS, DELETE_BUS_MARKER, redis_errors, status


class RedisBusStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._delete_marker = redis.register_script(DELETE_BUS_MARKER)
        self._cas = redis.register_script(BUS_CAS)

    async def ensure(self, record: Record) -> None:
        await self.create(record)

    async def create(self, record: Record) -> bool:
        name = record["Name"]
        with redis_errors("CreateEventBus"):
            await self._redis.set(self._keys.bus_exists(name), b"1")
            created = await self._redis.hsetnx(self._keys.buses, name, orjson.dumps(record))
        return bool(created)

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
