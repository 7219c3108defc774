"""Partner event sources in Redis: one hash of records for every region, partner and customer account.

A source belongs to two accounts at once (the partner that created it and the customer it is for), so its record
lives in neither account's key space: `sb:{meta}:event-sources` (router.keys), field `REGION/NAME` (names are unique
per region, as on AWS; a region has no `/`). A record holds `Name`, `Arn`, `Account` (the customer), `Partner` (the
creating account), `CreatedBy` (the partner name, the segment after `aws.partner/`), `CreationTime`, `State`
(`PENDING`, `ACTIVE`, `DELETED`) and `ExpirationTime` (epoch seconds, while PENDING).

Create is one script (the name must be free: absent, DELETED or expired); every other change is a check-and-set of
the record, so concurrent state changes never lose one. An expired PENDING record reads as absent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from router.errors import InternalException
from router.keys import Keys
from router.state import AppState
from router.store.scripts import BUS_CAS, CAS_ATTEMPTS, redis_errors, status

__all__ = ["ACTIVE", "DELETED", "PENDING", "EventSources", "event_sources", "source_arn"]

PENDING = "PENDING"
ACTIVE = "ACTIVE"
DELETED = "DELETED"

_CREATE = """
-- KEYS: the event-sources hash ; ARGV: field, record, now (epoch s). 1: created, 0: the name is taken.
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local record = cjson.decode(current)
  local expires = record['ExpirationTime']
  local expired = record['State'] == 'PENDING' and type(expires) == 'number' and expires <= tonumber(ARGV[3])
  if record['State'] ~= 'DELETED' and not expired then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

Mutation = Callable[[dict[str, Any]], dict[str, Any] | None]
"""The current record in, the new one out (the same record: no change)."""


def source_arn(region: str, name: str) -> str:
    """AWS's event source ARN: no account (`arn:aws:events:us-east-1::event-source/aws.partner/...`)."""
    return f"arn:aws:events:{region}::event-source/{name}"


class EventSources:
    PENDING_LIFETIME_S = 14 * 24 * 3600
    """How long a source stays PENDING before it expires (AWS: two weeks)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._key = keys.event_sources
        self._create = redis.register_script(_CREATE)
        self._cas = redis.register_script(BUS_CAS)

    async def create(self, region: str, record: dict[str, Any]) -> bool:
        """Store a new PENDING source; False when the name is taken in the region."""
        with redis_errors("CreatePartnerEventSource"):
            created = await self._create(
                keys=[self._key], args=[_field(region, record["Name"]), orjson.dumps(record), time.time()]
            )
        return bool(created)

    async def get(self, region: str, name: str) -> dict[str, Any] | None:
        with redis_errors("read event source"):
            raw = await self._redis.hget(self._key, _field(region, name))
        return _live(raw)

    async def all(self, region: str) -> list[dict[str, Any]]:
        """The region's sources, sorted by name (expired ones left out)."""
        prefix = f"{region}/"
        with redis_errors("list event sources"):
            raw = await self._redis.hgetall(self._key)
        found = [_live(value) for field, value in sorted(raw.items()) if _text(field).startswith(prefix)]
        return [record for record in found if record is not None]

    async def update(self, region: str, name: str, mutate: Mutation) -> dict[str, Any] | None:
        """Apply `mutate` to the live record atomically; None when there is none."""
        field = _field(region, name)
        for _ in range(CAS_ATTEMPTS):
            with redis_errors("update event source"):
                raw = await self._redis.hget(self._key, field)
                current = _live(raw)
                if raw is None or current is None:
                    return None
                new = mutate(dict(current))
                if new is None or new == current:
                    return current
                outcome = status(await self._cas(keys=[self._key], args=[field, raw, orjson.dumps(new)]))
            if outcome == "OK":
                return new
            if outcome == "NOBUS":
                return None
        raise InternalException("The event source is being changed concurrently; try again.")


def event_sources(state: AppState) -> EventSources:
    """The process's store (made on first use)."""
    found = state.extras.get("event_sources")
    if found is None:
        found = state.extras["event_sources"] = EventSources(state.redis, state.keys)
    assert isinstance(found, EventSources)
    return found


def _field(region: str, name: str) -> str:
    return f"{region}/{name}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _live(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    record: dict[str, Any] = orjson.loads(raw)
    expires = record.get("ExpirationTime")
    if record.get("State") == PENDING and isinstance(expires, int | float) and expires <= time.time():
        return None
    return record
