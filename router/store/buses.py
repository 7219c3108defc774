"""`RedisBusStore`: the bus registry (`sb:{meta}:buses`) and each bus's `exists` marker, in one namespace.

A store is bound to one (account, region) namespace (router.namespace; `within` gives the same store for another):
its methods take bus names and reach the bus's keys through its key-layout name (router.keys `Keys.scoped`), so the
one registry holds every namespace's buses (field = key-layout name) and `all` lists only the store's namespace's.

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
from router.namespace import Namespace, rebound
from router.quotas import limit_exceeded
from router.store.protocol import Record
from router.store.scripts import BUS_CAS, BUS_REGISTER, CAS_ATTEMPTS, DELETE_BUS_MARKER, redis_errors, status


class RedisBusStore:
    def __init__(
        self, redis: aioredis.Redis, keys: Keys, max_buses: int = 0, namespace: Namespace | None = None
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._max_buses = max_buses
        self.namespace = namespace or keys.home
        self._delete_marker = redis.register_script(DELETE_BUS_MARKER)
        self._cas = redis.register_script(BUS_CAS)
        self._register = redis.register_script(BUS_REGISTER)

    def within(self, namespace: Namespace) -> RedisBusStore:
        """The same store for the buses of `namespace` (sharing its scripts)."""
        return rebound(self, namespace)

    def bus_id(self, name: str) -> str:
        """The key-layout name of bus `name` of the store's namespace (router.keys `Keys.scoped`)."""
        return self._keys.scoped(name, self.namespace)

    def _count_prefix(self) -> str:
        """What the registry fields of this namespace start with ('' for the home namespace's bare names)."""
        return self._keys.scoped("", self.namespace)

    async def ensure(self, record: Record) -> None:
        await self._create(record, limit=0)

    async def create(self, record: Record) -> bool:
        return await self._create(record, limit=self._max_buses)

    async def _create(self, record: Record, *, limit: int) -> bool:
        """The event-buses quota is checked twice: before the marker is set (so a refused bus leaves no key),
        and atomically with the registry entry (so concurrent creates never overshoot it)."""
        bus = self.bus_id(record["Name"])
        registry = self._keys.buses
        with redis_errors("CreateEventBus"):
            full = limit > 0 and len(await self._names()) >= limit
            if full and not await self._redis.hexists(registry, bus):
                raise limit_exceeded()
            await self._redis.set(self._keys.bus_exists(bus), b"1")
            args: list[Any] = [bus, orjson.dumps(record), limit, self._count_prefix()]
            outcome = status(await self._register(keys=[registry], args=args))
            if outcome == "LIMIT":  # another bus was created meanwhile: take the marker back
                await self._redis.delete(self._keys.bus_exists(bus))
                raise limit_exceeded()
        return outcome == "OK"

    async def _names(self) -> list[str]:
        """The registry fields of the store's namespace."""
        fields = await self._redis.hkeys(self._keys.buses)
        texts = (field.decode() if isinstance(field, bytes) else str(field) for field in fields)
        return [field for field in texts if self._keys.in_namespace(field, self.namespace) is not None]

    async def get(self, name: str) -> Record | None:
        with redis_errors("read bus"):
            raw = await self._redis.hget(self._keys.buses, self.bus_id(name))
        return _load(raw) if raw is not None else None

    async def all(self) -> list[Record]:
        with redis_errors("list buses"):
            raw = await self._redis.hgetall(self._keys.buses)
        mine = []
        for field, value in raw.items():
            name = self._keys.in_namespace(field.decode() if isinstance(field, bytes) else str(field), self.namespace)
            if name is not None:
                mine.append((name, value))
        return [_load(value) for _, value in sorted(mine)]

    async def delete(self, name: str) -> None:
        bus = self.bus_id(name)
        keys = [self._keys.bus_exists(bus), self._keys.rules(bus), self._keys.version(bus)]
        with redis_errors("DeleteEventBus"):
            outcome = status(await self._delete_marker(keys=keys))
            if outcome == "HASRULES":
                raise ValidationException("EventBus can't be deleted since it has rules.")
            await self._redis.hdel(self._keys.buses, bus)

    async def update(self, name: str, mutate: Callable[[Record], Record]) -> Record | None:
        bus = self.bus_id(name)
        for _ in range(CAS_ATTEMPTS):
            with redis_errors("update bus"):
                raw = await self._redis.hget(self._keys.buses, bus)
                if raw is None:
                    return None
                new = mutate(_load(raw))
                outcome = status(await self._cas(keys=[self._keys.buses], args=[bus, raw, orjson.dumps(new)]))
            if outcome == "OK":
                return new
            if outcome == "NOBUS":
                return None
        raise InternalException("The event bus is being changed concurrently; try again.")


def _load(raw: Any) -> Record:
    record: Record = orjson.loads(raw)
    return record
