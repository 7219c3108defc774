"""`ArchiveStore`: archive records, their managed rules, their storage and its numbers (layout in `archive.keys`).

An archive is three things, written in this order and removed in the reverse one:

1. its record in `sb:{archives}:archives` (HSETNX decides "already exists"; changes are check-and-set scripts);
2. its managed rule `Events-Archive-<name>` on its bus (`ManagedBy` set, so users cannot change it: router.api
   answers ManagedRuleException) with the internal archive target (`archive.target`), written through the
   router's rule store directly, not through the user-facing operations; its pattern is the archive's pattern plus
   `"replay-name": [{"exists": false}]`, so replayed events are never archived;
3. its storage, in the bus's slot, which the ingest worker fills (`archive.target`): the events, their stats and
   the archive's compression dictionaries (`archive.dictionaries`).

EventCount is the storage set's cardinality and SizeBytes the `bytes` field beside it: both change in the same
scripts as the events (the ingest settle script, the retention trim, an import), so they are exact at every
moment. Deleting storage uses UNLINK (Redis frees a big set in the background) and leaves a tombstone, swept again
by `sweep_tombstones` once any batch staged before the managed rule went has committed.

Archives belong to an (account, region) namespace (router.namespace): an `ArchiveStore` is bound to one (`within`,
`for_arn`), its registry field is the archive's key-layout name (router.keys `Keys.scoped`), and an archive's storage
is keyed by its bus's key-layout name, found from the record (`EventBusName` in the namespace its `ArchiveArn`
names), so records keep their format and the home namespace's keys their names.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from archive import codec
from archive.arns import archive_arn
from archive.dictionaries import DICTIONARIES
from archive.keys import ArchiveKeys
from archive.target import KIND, target_name
from router.arns import Arns
from router.errors import InternalException, ResourceAlreadyExistsException, ResourceNotFoundException
from router.extensions import internal_target_arn
from router.namespace import Namespace, namespace_of_arn, rebound
from router.state import AppState
from router.store import RuleStore, stores
from router.store.scripts import redis_errors, status

__all__ = [
    "MANAGED_BY",
    "ArchiveStats",
    "ArchiveStore",
    "Record",
    "archive_store",
    "managed_rule_name",
    "managed_rule_pattern",
]

Record = dict[str, Any]

MANAGED_BY = "prod.vhs.events.aws.internal"
"""What AWS shows as `ManagedBy` on an archive's rule."""

RULE_PREFIX = "Events-Archive-"
TOMBSTONE_GRACE_MS = 60_000
"""A deleted archive's storage is deleted again this long after (a batch staged before may still have committed)."""

_CAS = """
-- KEYS: registry hash ; ARGV: name, expected record, new record ('' deletes)
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current == false then return 'MISSING' end
if current ~= ARGV[2] then return 'RETRY' end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 'OK'
"""
_CAS_ATTEMPTS = 50

# KEYS: events set, stats hash ; ARGV: exclusive BYLEX upper bound, max members.
# Removes the oldest members below the bound and subtracts their sizes (bytes 25-28 of each member, archive.codec).
_TRIM = """
local members = redis.call('ZRANGE', KEYS[1], '-', ARGV[1], 'BYLEX', 'LIMIT', 0, tonumber(ARGV[2]))
if #members == 0 then return 0 end
local bytes = 0
for _, member in ipairs(members) do bytes = bytes + struct.unpack('>I4', member, 25) end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #members - 1)
redis.call('HINCRBY', KEYS[2], 'bytes', -bytes)
return #members
"""
TRIM_BATCH = 1000
"""Members one trim script removes (so a script never blocks Redis for long)."""

# KEYS: events set, stats hash ; ARGV: member, size, ... Adds each member whose key (its first 24 bytes: event time
# and ingest id, archive.codec) is not stored yet, and its size: the same event compressed otherwise (another
# dictionary) is still the same event.
_IMPORT = """
local added = 0
for i = 1, #ARGV, 2 do
  local key = string.sub(ARGV[i], 1, 24)
  local found = redis.call('ZRANGE', KEYS[1], '[' .. key, '(' .. key .. '\\255\\255\\255\\255', 'BYLEX', 'LIMIT', 0, 1)
  if #found == 0 then
    redis.call('ZADD', KEYS[1], 0, ARGV[i])
    redis.call('HINCRBY', KEYS[2], 'bytes', ARGV[i + 1])
    added = added + 1
  end
end
return added
"""


def managed_rule_name(archive: str) -> str:
    return f"{RULE_PREFIX}{archive}"


def managed_rule_pattern(pattern: str | None) -> str:
    """The managed rule's pattern: the archive's (a JSON object, already validated) plus no `replay-name`."""
    combined = orjson.loads(pattern) if pattern else {}
    combined["replay-name"] = [{"exists": False}]
    return orjson.dumps(combined).decode()


@dataclass(frozen=True, slots=True)
class ArchiveStats:
    event_count: int
    size_bytes: int


def _now_s() -> float:
    return round(time.time(), 3)


class ArchiveStore:
    def __init__(self, redis: aioredis.Redis, keys: ArchiveKeys, rules: RuleStore, arns: Arns) -> None:
        self.redis = redis
        self.keys = keys
        self.rules = rules
        self.arns = arns
        self.namespace = Namespace(arns.account_id, arns.region)
        self._cas = redis.register_script(_CAS)
        self._trim = redis.register_script(_TRIM)
        self._import = redis.register_script(_IMPORT)

    # namespaces -----------------------------------------------------------------------------------------------
    def within(self, namespace: Namespace) -> ArchiveStore:
        """The same store for the archives of another namespace (sharing its scripts)."""
        if namespace == self.namespace:
            return self
        other = rebound(self, namespace)
        other.arns, other.rules = namespace.arns, self.rules.within(namespace)
        return other

    def for_arn(self, arn: str) -> ArchiveStore:
        """The store of the namespace an ARN (an archive's, a replay's) names; this one for an ARN without one."""
        found = namespace_of_arn(arn)
        return self if found is None else self.within(found)

    def _field(self, name: str) -> str:
        return self.keys.keys.scoped(name, self.namespace)

    def bus_key(self, record: Record) -> str:
        """The key-layout name of the archive's bus (router.keys): its storage keys are built from it."""
        namespace = namespace_of_arn(str(record.get("ArchiveArn") or "")) or self.namespace
        return self.keys.keys.scoped(record["EventBusName"], namespace)

    # records --------------------------------------------------------------------------------------------------
    def new_record(self, name: str, bus: str, body: dict[str, Any]) -> Record:
        return {
            "ArchiveName": name,
            "ArchiveArn": archive_arn(self.arns, name),
            "EventSourceArn": self.arns.bus(bus),
            "EventBusName": bus,
            "Description": body.get("Description"),
            "EventPattern": body.get("EventPattern"),
            "RetentionDays": int(body.get("RetentionDays") or 0),
            "KmsKeyIdentifier": body.get("KmsKeyIdentifier"),
            "State": "CREATING",
            "StateReason": None,
            "CreationTime": _now_s(),
            "Generation": secrets.token_hex(6),
        }

    async def create(self, record: Record) -> None:
        """Store a new record; ResourceAlreadyExistsException if the name is taken."""
        with redis_errors("CreateArchive"):
            created = await self.redis.hsetnx(
                self.keys.archives, self._field(record["ArchiveName"]), orjson.dumps(record)
            )
        if not created:
            raise ResourceAlreadyExistsException(f"Archive {record['ArchiveName']} already exists.")

    async def get(self, name: str) -> Record | None:
        with redis_errors("read archive"):
            raw = await self.redis.hget(self.keys.archives, self._field(name))
        return _load(raw) if raw is not None else None

    async def require(self, name: str) -> Record:
        record = await self.get(name)
        if record is None:
            raise ResourceNotFoundException(f"Archive {name} does not exist.")
        return record

    async def all(self) -> list[Record]:
        """Every archive of the store's namespace, sorted by name."""
        with redis_errors("list archives"):
            raw = await self.redis.hgetall(self.keys.archives)
        mine = []
        for field, value in raw.items():
            name = self.keys.keys.in_namespace(
                field.decode() if isinstance(field, bytes) else str(field), self.namespace
            )
            if name is not None:
                mine.append((name, value))
        return [_load(value) for _, value in sorted(mine)]

    async def every(self) -> list[Record]:
        """Every archive of every namespace (the background retention)."""
        with redis_errors("list archives"):
            raw = await self.redis.hgetall(self.keys.archives)
        return [_load(value) for _, value in sorted(raw.items())]

    async def update(self, name: str, mutate: Callable[[Record], Record | None]) -> Record | None:
        """Replace the record with `mutate(current)` (None deletes it) atomically; ResourceNotFoundException."""
        field = self._field(name)
        for _ in range(_CAS_ATTEMPTS):
            with redis_errors("update archive"):
                raw = await self.redis.hget(self.keys.archives, field)
                if raw is None:
                    raise ResourceNotFoundException(f"Archive {name} does not exist.")
                new = mutate(_load(raw))
                encoded = orjson.dumps(new) if new is not None else b""
                outcome = status(await self._cas(keys=[self.keys.archives], args=[field, raw, encoded]))
            if outcome == "OK":
                return new
            if outcome == "MISSING":
                raise ResourceNotFoundException(f"Archive {name} does not exist.")
        raise InternalException("The archive is being changed concurrently; try again.")

    async def set_state(self, name: str, state: str, reason: str | None = None, **changes: Any) -> Record | None:
        return await self.update(name, lambda current: {**current, **changes, "State": state, "StateReason": reason})

    # the managed rule -----------------------------------------------------------------------------------------
    def target_arn(self, record: Record) -> str:
        name = target_name(record["ArchiveName"], record["Generation"])
        return internal_target_arn(KIND, name, self.arns.region, self.arns.account_id)

    async def put_managed_rule(self, record: Record, created_by: str) -> None:
        """Create or update the archive's managed rule and its internal target (ResourceNotFoundException when
        the bus is gone, ResourceAlreadyExistsException when a user's own rule has the name)."""
        bus, rule = record["EventBusName"], managed_rule_name(record["ArchiveName"])

        def replace(current: Record | None) -> Record:
            if current is not None and current.get("ManagedBy") != MANAGED_BY:
                raise ResourceAlreadyExistsException(f"Rule {rule} already exists on EventBus {bus}.")
            return {
                "Name": rule,
                "Arn": self.arns.rule(bus, rule),
                "EventBusName": bus,
                "EventPattern": managed_rule_pattern(record.get("EventPattern")),
                "ScheduleExpression": None,
                "State": "ENABLED",
                "Description": None,
                "RoleArn": None,
                "ManagedBy": MANAGED_BY,
                "CreatedBy": created_by,
                "Tags": current["Tags"] if current is not None else [],
            }

        await self.rules.update(bus, rule, replace)
        await self.rules.put_targets(bus, rule, [{"Id": rule, "Arn": self.target_arn(record)}])

    async def delete_managed_rule(self, record: Record) -> None:
        """Remove the managed rule and its target (nothing when the rule or its bus is gone)."""
        bus, rule = record["EventBusName"], managed_rule_name(record["ArchiveName"])
        try:
            current = await self.rules.get(bus, rule)
            if current is not None and current.get("ManagedBy") == MANAGED_BY:
                await self.rules.update(bus, rule, lambda _current: None, keep_targets=False)
        except ResourceNotFoundException:
            return

    async def has_managed_rule(self, records: Sequence[Record]) -> list[bool]:
        """For each archive, whether its managed rule still exists (a rule deleted with Force disables it)."""
        with redis_errors("read archive rules"):
            async with self.redis.pipeline(transaction=False) as pipe:
                for record in records:
                    pipe.hexists(self.keys.keys.rules(self.bus_key(record)), managed_rule_name(record["ArchiveName"]))
                found = await pipe.execute() if records else []
        return [bool(value) for value in found]

    # storage --------------------------------------------------------------------------------------------------
    def events_key(self, record: Record) -> str:
        return self.keys.events(self.bus_key(record), record["ArchiveName"], record["Generation"])

    def stats_key(self, record: Record) -> str:
        return self.keys.stats(self.bus_key(record), record["ArchiveName"], record["Generation"])

    def dicts_key(self, record: Record) -> str:
        return self.keys.dicts(record["EventBusName"], record["ArchiveName"], record["Generation"])

    async def dictionaries(self, record: Record, members: Sequence[bytes]) -> Mapping[int, codec.Dictionary]:
        """The dictionaries `members` of this archive need (`codec.decode(member, found)`)."""
        with redis_errors("read archive"):
            return await DICTIONARIES.for_members(self.redis, self.dicts_key(record), members)

    async def newest_dictionary(self, record: Record) -> codec.Dictionary | None:
        """The archive's newest dictionary (to compress imported events with), None before one is trained."""
        with redis_errors("read archive"):
            return await DICTIONARIES.newest(self.redis, self.dicts_key(record))

    async def stats(self, records: Sequence[Record]) -> list[ArchiveStats]:
        """EventCount and SizeBytes of each archive (one pipelined round trip)."""
        with redis_errors("read archive sizes"):
            async with self.redis.pipeline(transaction=False) as pipe:
                for record in records:
                    pipe.zcard(self.events_key(record))
                    pipe.hget(self.stats_key(record), "bytes")
                found = await pipe.execute() if records else []
        return [ArchiveStats(int(found[i]), int(found[i + 1] or 0)) for i in range(0, len(found), 2)]

    async def delete_storage(self, record: Record) -> None:
        """Drop the archive's events now, and leave a tombstone so the sweep drops any straggler later."""
        member = f"{self.bus_key(record)}/{record['ArchiveName']}/{record['Generation']}"
        with redis_errors("DeleteArchive"):
            await self.redis.hset(self.keys.tombstones, member, int(time.time() * 1000))
            await self.redis.unlink(self.events_key(record), self.stats_key(record), self.dicts_key(record))
        DICTIONARIES.forget(self.events_key(record))

    async def trim(self, record: Record, before_ms: int) -> int:
        """Remove the archive's events whose event time is before `before_ms` (retention); how many."""
        keys = [self.events_key(record), self.stats_key(record)]
        bound = codec.time_min(before_ms)
        bound = b"(" + bound[1:]
        removed = 0
        while True:
            with redis_errors("trim archive"):
                count = int(await self._trim(keys=keys, args=[bound, TRIM_BATCH]))
            removed += count
            if count < TRIM_BATCH:
                return removed

    async def trim_expired(self, now_ms: int | None = None) -> int:
        """Apply every archive's RetentionDays (0 keeps events forever); how many events were removed."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        removed = 0
        for record in await self.every():
            days = int(record.get("RetentionDays") or 0)
            if days > 0:
                removed += await self.trim(record, now_ms - days * 86_400_000)
        return removed

    async def add_events(self, record: Record, members: Sequence[bytes], sizes: Sequence[int]) -> int:
        """Store members not stored yet (an import) with their sizes; how many were new."""
        args: list[Any] = []
        for member, size in zip(members, sizes, strict=True):
            args += (member, size)
        if not args:
            return 0
        with redis_errors("import archive"):
            return int(await self._import(keys=[self.events_key(record), self.stats_key(record)], args=args))

    async def read(self, record: Record, low: bytes, high: bytes, count: int) -> list[bytes]:
        """Up to `count` members between the BYLEX bounds `low` and `high`, in event-time order."""
        with redis_errors("read archive"):
            found: Any = await self.redis.zrange(self.events_key(record), low, high, bylex=True, offset=0, num=count)
        return list(found)

    async def count_between(self, record: Record, low: bytes, high: bytes) -> int:
        with redis_errors("read archive"):
            return int(await self.redis.zlexcount(self.events_key(record), low, high))

    async def sweep_tombstones(self, now_ms: int | None = None) -> int:
        """Delete again the storage of archives deleted over `TOMBSTONE_GRACE_MS` ago; how many were swept."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        raw = await self.redis.hgetall(self.keys.tombstones)
        swept = 0
        for member, deleted_ms in raw.items():
            text = member.decode() if isinstance(member, bytes) else str(member)
            if now_ms - int(deleted_ms) < TOMBSTONE_GRACE_MS:
                continue
            bus, archive, generation = text.rsplit("/", 2)  # a partner bus's name has '/' in it
            await self.redis.unlink(
                self.keys.events(bus, archive, generation),
                self.keys.stats(bus, archive, generation),
                self.keys.dicts(bus, archive, generation),
            )
            DICTIONARIES.forget(self.keys.events(bus, archive, generation))
            await self.redis.hdel(self.keys.tombstones, member)
            swept += 1
        return swept


def _load(raw: Any) -> Record:
    record: Record = orjson.loads(raw)
    return record


_EXTRAS_KEY = "archive_store"


def archive_store(state: AppState) -> ArchiveStore:
    """The process's archive store of the request's namespace (router.namespace; made on first use, kept in
    `state.extras`)."""
    found = state.extras.get(_EXTRAS_KEY)
    if found is None:
        _, rules = stores(state, state.home)
        found = ArchiveStore(state.redis, ArchiveKeys(state.keys), rules, state.home.arns)
        state.extras[_EXTRAS_KEY] = found
    store: ArchiveStore = found
    return store.within(state.namespace)
