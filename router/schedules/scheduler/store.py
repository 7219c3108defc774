"""Schedule groups and schedules in Redis (EventBridge Scheduler).

- `sb:{meta}:schedule-groups` (hash): group name -> group record (`Name`, `Arn`, `State`, `CreationDate`,
  `LastModificationDate` in epoch seconds, `Tags`).
- `sb:{schedule-group:G}:schedules` (hash): schedule name -> schedule record (the CreateSchedule members as stored,
  with `Arn`, `GroupName`, `CreationDate`, `LastModificationDate`). The group's timers (router.timers, owner
  `schedule-group:G`) share that hash tag, so a firing can check and delete its schedule in its own script.

Writes that depend on the current record are single scripts (create only if absent, replace only if present), so
concurrent callers never resurrect a deleted schedule or overwrite a new one.

Groups belong to an (account, region) namespace (router.namespace): a store is bound to one (`within`), and G above
is the group's key-layout name (router.keys `Keys.scoped`: the bare name in the home namespace,
`ACCOUNT@REGION@G` in any other), also in its timer owner and delivery owner. Records keep bare names; the namespace
is in their ARNs (`group_key`). The firing path holds key-layout names, which a store passes through unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from router.keys import Keys
from router.namespace import Namespace, namespace_of_arn, rebound

__all__ = ["DEFAULT_GROUP", "SchedulerStore", "group_key", "group_owner"]

DEFAULT_GROUP = "default"

Record = dict[str, Any]

# KEYS: hash. ARGV: field, value. Replace only if present.
_REPLACE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def group_owner(group: str) -> str:
    """The timer owner (and hash tag) of a schedule group."""
    return f"schedule-group:{group}"


def group_key(keys: Keys, group: str, arn: str) -> str:
    """The key-layout name of group `group` of the namespace its (schedule's or group's) ARN `arn` names."""
    return keys.scoped(group, namespace_of_arn(arn))


def _load(raw: Any) -> Record:
    record: Record = orjson.loads(raw)
    return record


class SchedulerStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys, namespace: Namespace | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.namespace = namespace or keys.home
        self._replace = redis.register_script(_REPLACE)

    def within(self, namespace: Namespace) -> SchedulerStore:
        """The same store for the groups of another namespace (sharing its script)."""
        return rebound(self, namespace)

    def key(self, group: str) -> str:
        """The key-layout name of group `group` of this namespace (a key-layout name passes through unchanged)."""
        return self.keys.scoped(group, self.namespace)

    # groups -------------------------------------------------------------------------------------------------
    async def create_group(self, record: Record) -> bool:
        return bool(await self.redis.hsetnx(self.keys.schedule_groups, self.key(record["Name"]), orjson.dumps(record)))

    async def get_group(self, name: str) -> Record | None:
        raw = await self.redis.hget(self.keys.schedule_groups, self.key(name))
        return _load(raw) if raw is not None else None

    async def groups(self) -> list[Record]:
        """The groups of this namespace, by name."""
        raw = await self.redis.hgetall(self.keys.schedule_groups)
        mine = [v for f, v in raw.items() if self.keys.in_namespace(_text(f), self.namespace) is not None]
        return sorted((_load(value) for value in mine), key=lambda record: str(record["Name"]))

    async def group_keys(self) -> list[str]:
        """The key-layout names of every namespace's groups (the firing path's reconciliation)."""
        return sorted(_text(field) for field in await self.redis.hkeys(self.keys.schedule_groups))

    async def replace_group(self, record: Record) -> bool:
        args: list[Any] = [self.key(record["Name"]), orjson.dumps(record)]
        return bool(await self._replace(keys=[self.keys.schedule_groups], args=args))

    async def delete_group(self, name: str) -> None:
        await self.redis.delete(self.keys.schedules(self.key(name)))
        await self.redis.hdel(self.keys.schedule_groups, self.key(name))

    # schedules ----------------------------------------------------------------------------------------------
    async def create_schedule(self, group: str, record: Record) -> bool:
        key = self.keys.schedules(self.key(group))
        return bool(await self.redis.hsetnx(key, record["Name"], orjson.dumps(record)))

    async def get_schedule_raw(self, group: str, name: str) -> bytes | None:
        raw = await self.redis.hget(self.keys.schedules(self.key(group)), name)
        return raw if raw is None or isinstance(raw, bytes) else str(raw).encode()

    async def get_schedule(self, group: str, name: str) -> Record | None:
        raw = await self.get_schedule_raw(group, name)
        return _load(raw) if raw is not None else None

    async def schedules(self, group: str) -> list[Record]:
        raw = await self.redis.hgetall(self.keys.schedules(self.key(group)))
        return sorted((_load(value) for value in raw.values()), key=lambda record: str(record["Name"]))

    async def replace_schedule(self, group: str, record: Record) -> bool:
        args = [record["Name"], orjson.dumps(record)]
        return bool(await self._replace(keys=[self.keys.schedules(self.key(group))], args=args))

    async def delete_schedule(self, group: str, name: str) -> bool:
        return bool(await self.redis.hdel(self.keys.schedules(self.key(group)), name))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
