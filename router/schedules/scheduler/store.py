"""Schedule groups and schedules in Redis (EventBridge Scheduler).

- `sb:{meta}:schedule-groups` (hash): group name -> group record (`Name`, `Arn`, `State`, `CreationDate`,
  `LastModificationDate` in epoch seconds, `Tags`).
- `sb:{schedule-group:G}:schedules` (hash): schedule name -> schedule record (the CreateSchedule members as stored,
  with `Arn`, `GroupName`, `CreationDate`, `LastModificationDate`). The group's timers (router.timers, owner
  `schedule-group:G`) share that hash tag, so a firing can check and delete its schedule in its own script.

Writes that depend on the current record are single scripts (create only if absent, replace only if present), so
concurrent callers never resurrect a deleted schedule or overwrite a new one.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from router.keys import Keys

__all__ = ["DEFAULT_GROUP", "SchedulerStore", "group_owner"]

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


def _load(raw: Any) -> Record:
    record: Record = orjson.loads(raw)
    return record


class SchedulerStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._replace = redis.register_script(_REPLACE)

    # groups -------------------------------------------------------------------------------------------------
    async def create_group(self, record: Record) -> bool:
        return bool(await self.redis.hsetnx(self.keys.schedule_groups, record["Name"], orjson.dumps(record)))

    async def get_group(self, name: str) -> Record | None:
        raw = await self.redis.hget(self.keys.schedule_groups, name)
        return _load(raw) if raw is not None else None

    async def groups(self) -> list[Record]:
        raw = await self.redis.hgetall(self.keys.schedule_groups)
        return sorted((_load(value) for value in raw.values()), key=lambda record: str(record["Name"]))

    async def replace_group(self, record: Record) -> bool:
        args = [record["Name"], orjson.dumps(record)]
        return bool(await self._replace(keys=[self.keys.schedule_groups], args=args))

    async def delete_group(self, name: str) -> None:
        await self.redis.delete(self.keys.schedules(name))
        await self.redis.hdel(self.keys.schedule_groups, name)

    # schedules ----------------------------------------------------------------------------------------------
    async def create_schedule(self, group: str, record: Record) -> bool:
        return bool(await self.redis.hsetnx(self.keys.schedules(group), record["Name"], orjson.dumps(record)))

    async def get_schedule_raw(self, group: str, name: str) -> bytes | None:
        raw = await self.redis.hget(self.keys.schedules(group), name)
        return raw if raw is None or isinstance(raw, bytes) else str(raw).encode()

    async def get_schedule(self, group: str, name: str) -> Record | None:
        raw = await self.get_schedule_raw(group, name)
        return _load(raw) if raw is not None else None

    async def schedules(self, group: str) -> list[Record]:
        raw = await self.redis.hgetall(self.keys.schedules(group))
        return sorted((_load(value) for value in raw.values()), key=lambda record: str(record["Name"]))

    async def replace_schedule(self, group: str, record: Record) -> bool:
        args = [record["Name"], orjson.dumps(record)]
        return bool(await self._replace(keys=[self.keys.schedules(group)], args=args))

    async def delete_schedule(self, group: str, name: str) -> bool:
        return bool(await self.redis.hdel(self.keys.schedules(group), name))
