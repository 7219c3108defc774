"""Reading sagas for people: "where is this order?" for `switchboard saga`, the `/ui/sagas` pages and the metrics.

Everything here reads what the runtime wrote and imports no saga's code: the registered definitions
(`sb:{meta}:saga-types`, each definition's `describe()` as JSON), the per-shard index (instance -> status and
state, counts per status and state, counters) and one instance's state, history and outbox (sagas.keys). So the
router process, which runs no saga, serves the pages and the metrics, and the CLI works against any deployment.

- `SagaView.types()`: saga type -> its description (states, edges, queue, shards, ...);
- `SagaView.find(id, saga=None)`: the instances with that correlation id (in one type, or in every type);
- `SagaView.status(saga, id)`: one instance with its history, pending outbox and timers (`InstanceStatus`);
- `SagaView.listing(saga=None, state=None, limit=...)`: index entries, newest change first, filtered by status
  (`COMPLETED`) or state name (`shipping`);
- `SagaView.counts(saga)` / `counters(saga)`: over every shard of the type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from router.redis_client import AnyRedis
from sagas.instance import Instance
from sagas.keys import SagaKeys, instance_key
from sagas.store import IndexEntry, SagaStore

__all__ = ["InstanceStatus", "Listed", "SagaView", "matches_state"]


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    instance: Instance
    history: list[dict[str, Any]]
    outbox: int
    """Messages committed and not yet dispatched."""
    definition: dict[str, Any] | None
    """The type's description, when it is registered."""

    def to_json(self) -> dict[str, Any]:
        """What `switchboard saga status --json` prints."""
        instance = self.instance
        return {
            "type": instance.saga,
            "id": instance.id,
            "status": instance.status,
            "state": instance.state,
            "version": instance.version,
            "created_ms": instance.created_ms,
            "updated_ms": instance.updated_ms,
            "data": instance.data,
            "steps": instance.steps,
            "attempts": instance.attempts,
            "timers": {n: {"due_ms": t.due_ms, "scope": t.scope} for n, t in instance.timers.items()},
            "outbox": self.outbox,
            "history": self.history,
        }


@dataclass(frozen=True, slots=True)
class Listed:
    saga: str
    entry: IndexEntry


def matches_state(entry: IndexEntry, wanted: str | None) -> bool:
    """`--state S`: a status (case-insensitive: `completed`) or a state name (exact: `shipping`)."""
    if not wanted:
        return True
    return entry.status == wanted.upper() or entry.state == wanted


class SagaView:
    def __init__(self, redis: AnyRedis, prefix: str = "sb") -> None:
        self.redis = redis
        self.keys = SagaKeys(prefix)
        self.store = SagaStore(redis, self.keys)

    async def types(self) -> dict[str, dict[str, Any]]:
        raw: Mapping[Any, Any] = await self.redis.hgetall(self.keys.types)
        found = {_text(name): orjson.loads(value) for name, value in raw.items()}
        return dict(sorted(found.items()))

    async def _shards(self, saga: str, types: Mapping[str, Mapping[str, Any]] | None = None) -> int:
        described = (types if types is not None else await self.types()).get(saga)
        return int(described.get("shards", 8)) if described is not None else 8

    async def find(self, instance_id: str, saga: str | None = None) -> list[Instance]:
        types = await self.types()
        names = [saga] if saga is not None else list(types)
        key = instance_key(instance_id)
        found = []
        for name in names:
            instance = await self.store.get(name, key)
            if instance is not None:
                found.append(instance)
        return found

    async def status(self, saga: str, instance_id: str) -> InstanceStatus | None:
        key = instance_key(instance_id)
        instance = await self.store.get(saga, key)
        if instance is None:
            return None
        history = await self.store.history(saga, key)
        outbox = int(await self.redis.hlen(self.keys.outbox(saga, key)))
        return InstanceStatus(instance, history, outbox, (await self.types()).get(saga))

    async def listing(self, saga: str | None = None, state: str | None = None, limit: int = 1000) -> list[Listed]:
        """Matching instances, most recently changed first, at most `limit` (read shard by shard with HSCAN)."""
        types = await self.types()
        names = [saga] if saga is not None else list(types)
        found: list[Listed] = []
        for name in names:
            entries = await self.store.entries(name, await self._shards(name, types))
            found.extend(Listed(name, entry) for entry in entries if matches_state(entry, state))
        found.sort(key=lambda item: (-item.entry.updated_ms, item.saga, item.entry.id))
        return found[:limit]

    async def counts(self, saga: str) -> dict[tuple[str, str], int]:
        return await self.store.counts(saga, await self._shards(saga))

    async def counters(self, saga: str) -> dict[str, int]:
        return await self.store.counters(saga, await self._shards(saga))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
