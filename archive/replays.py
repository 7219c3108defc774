"""`ReplayStore`: replay records, their state and checkpoint, and the scripts that move them (layout in
`archive.keys`).

A replay is two things:

- its **record** in `sb:{archives}:replays` (what StartReplay was asked: archive, window, destination, FilterArns,
  speed), written once, and its name in the active set `sb:{archives}:active-replays` until it ends. Both go in one
  script that also enforces AWS's limit of 10 active replays per account and region (the `active_replays` quota,
  router.quotas), so two concurrent StartReplay calls cannot exceed it.
- its **state** in a hash in the *destination* bus's slot: `state` (STARTING, RUNNING, CANCELLING, COMPLETED,
  CANCELLED, FAILED), `reason`, `checkpoint` (hex of the archive member key of the last event appended, see
  `archive.codec`), `last_ms` (the event time of that event: EventLastReplayedTime), `appended`, `end_s`
  (ReplayEndTime) and `anchor_ms` (the wall clock the paced replay is measured from), beside the runner's lease.

`APPEND` is the heart of resumability: in one script in the destination's slot it checks that the caller still holds
the lease, that the replay is still running and that the checkpoint is the one the page was read after, then appends
the page's events to the destination's ingest stream and moves the checkpoint to the page's last event. So a page is
appended entirely or not at all, and never twice: a process killed mid-replay leaves the checkpoint at its last whole
page, and the process that takes the lease over resumes exactly there. The same script applies the backpressure
(FULL while the destination's ingest backlog is over the runner's limit), so a page costs one round trip.

Replays belong to an (account, region) namespace (router.namespace): a `ReplayStore` is bound to one (`within`), the
registry field and the active set's member are the replay's key-layout name (router.keys `Keys.scoped`, `key_of`),
and the record's `DestinationBus` is the destination bus's key-layout name, so the runner, which serves every
namespace's replays, builds every key from the record alone. The limit of active replays counts the replays of the
store's namespace only (the active-set members its key-layout names start with), as AWS's quota is per account
and region; a refusal is AWS's LimitExceededException text (router.quotas).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from archive.keys import ArchiveKeys
from router.errors import (
    IllegalStatusException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from router.keys import INGEST_GROUP
from router.namespace import Namespace, namespace_of_arn, rebound
from router.quotas import limit_exceeded
from router.store.scripts import NAMESPACE_COUNT, redis_errors, status

__all__ = [
    "ACTIVE_LIMIT",
    "ACTIVE_STATES",
    "FINAL_STATES",
    "Appended",
    "Record",
    "ReplayState",
    "ReplayStore",
]

Record = dict[str, Any]

ACTIVE_LIMIT = 10
"""AWS's quota of active concurrent replays per account and region (the default of `Quotas.active_replays`)."""
ACTIVE_STATES = ("STARTING", "RUNNING", "CANCELLING")
FINAL_STATES = ("COMPLETED", "CANCELLED", "FAILED")

_START = (
    NAMESPACE_COUNT
    + """
-- KEYS: replays hash, active set ; ARGV: name, record, limit (0: none), the namespace's key-layout prefix
-- ('' for the home namespace; else 'ACCOUNT@REGION@'). Counts that namespace's active replays only.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'EXISTS' end
local limit = tonumber(ARGV[3])
if limit > 0 and namespace_members(redis.call('SMEMBERS', KEYS[2]), ARGV[4]) >= limit then return 'LIMIT' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 'OK'
"""
)

# KEYS: state hash, lease, destination ingest stream, destination exists marker
# ARGV: me, expected checkpoint, new checkpoint, last event ms, lease ms, backlog limit (0: none), ingest group,
# only_rules ('' for every rule), then the page's events.
# FULL (nothing appended, the lease renewed) while more than `backlog limit` of the destination's events wait for
# its ingest group (pending + lag), so the check and the append are one step.
_APPEND = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'LOST' end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'CANCELLING' then return 'CANCELLING' end
if state ~= false and state ~= 'STARTING' and state ~= 'RUNNING' then return 'ENDED' end
local checkpoint = redis.call('HGET', KEYS[1], 'checkpoint') or ''
if checkpoint ~= ARGV[2] then return 'MOVED' end
if redis.call('EXISTS', KEYS[4]) == 0 then return 'NOBUS' end
local limit = tonumber(ARGV[6])
if limit > 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[3])) do
    local info = {}
    for j = 1, #g, 2 do info[g[j]] = g[j + 1] end
    if info['name'] == ARGV[7] and tonumber(info['pending']) + (tonumber(info['lag']) or 0) > limit then
      redis.call('PEXPIRE', KEYS[2], ARGV[5])
      return 'FULL'
    end
  end
end
local only = ARGV[8]
for i = 9, #ARGV do
  if only == '' then
    redis.call('XADD', KEYS[3], '*', 'event', ARGV[i])
  else
    redis.call('XADD', KEYS[3], '*', 'event', ARGV[i], 'only_rules', only)
  end
end
redis.call('HSET', KEYS[1], 'state', 'RUNNING', 'checkpoint', ARGV[3], 'last_ms', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'appended', #ARGV - 8)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 'OK'
"""

# KEYS: state hash, lease ; ARGV: me, lease ms, anchor ms ('' keeps it). Takes the lease if free (or renews it);
# returns the state's fields, or false when another process holds it.
_CLAIM = """
local holder = redis.call('GET', KEYS[2])
if holder ~= false and holder ~= ARGV[1] then return false end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'state', 'STARTING', 'checkpoint', '', 'appended', 0)
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'anchor_ms', ARGV[3]) end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: state hash, lease ; ARGV: me, final state, reason, end s, only-from states...
# Ends the replay if it is in one of the given states; the lease (if held by `me` or free) is dropped.
_FINISH = """
local holder = redis.call('GET', KEYS[2])
if holder ~= false and holder ~= ARGV[1] then return 'LOST' end
local state = redis.call('HGET', KEYS[1], 'state') or 'STARTING'
local allowed = false
for i = 5, #ARGV do if ARGV[i] == state then allowed = true end end
if not allowed then return state end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'reason', ARGV[3], 'end_s', ARGV[4])
redis.call('DEL', KEYS[2])
return 'OK'
"""

# KEYS: state hash ; ARGV: (none). STARTING or RUNNING -> CANCELLING.
_CANCEL = """
local state = redis.call('HGET', KEYS[1], 'state') or 'STARTING'
if state ~= 'STARTING' and state ~= 'RUNNING' then return state end
redis.call('HSET', KEYS[1], 'state', 'CANCELLING')
return 'OK'
"""

# KEYS: lease ; ARGV: me, lease ms
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class ReplayState:
    state: str
    reason: str | None
    checkpoint: bytes
    """The member key of the last event appended (b'' before the first page)."""
    last_ms: int | None
    appended: int
    end_s: float | None
    anchor_ms: int | None

    @classmethod
    def of(cls, fields: dict[Any, Any] | Sequence[Any] | None) -> ReplayState:
        pairs: dict[Any, Any] = (
            dict(zip(fields[::2], fields[1::2], strict=True))
            if isinstance(fields, list | tuple)
            else dict(fields or {})
        )
        found = {_text(k): _text(v) for k, v in pairs.items()}
        return cls(
            state=found.get("state") or "STARTING",
            reason=found.get("reason") or None,
            checkpoint=bytes.fromhex(found.get("checkpoint") or ""),
            last_ms=int(found["last_ms"]) if found.get("last_ms") else None,
            appended=int(found.get("appended") or 0),
            end_s=float(found["end_s"]) if found.get("end_s") else None,
            anchor_ms=int(found["anchor_ms"]) if found.get("anchor_ms") else None,
        )


@dataclass(frozen=True, slots=True)
class Appended:
    outcome: str
    """OK, LOST (another process holds the lease), MOVED (the checkpoint moved), CANCELLING, ENDED, NOBUS or FULL
    (the destination's ingest backlog is over the limit: nothing appended)."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ReplayStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        keys: ArchiveKeys,
        namespace: Namespace | None = None,
        *,
        active_limit: int = ACTIVE_LIMIT,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.namespace = namespace or keys.keys.home
        self.active_limit = active_limit
        """Active replays allowed per namespace (settings `quotas.active_replays`; 0: no limit)."""
        self._start = redis.register_script(_START)
        self._append = redis.register_script(_APPEND)
        self._claim = redis.register_script(_CLAIM)
        self._finish = redis.register_script(_FINISH)
        self._cancel = redis.register_script(_CANCEL)
        self._renew = redis.register_script(_RENEW)

    def within(self, namespace: Namespace) -> ReplayStore:
        """The same store for the replays of another namespace (sharing its scripts)."""
        return rebound(self, namespace)

    def _field(self, name: str) -> str:
        return self.keys.keys.scoped(name, self.namespace)

    def key_of(self, record: Record) -> str:
        """The replay's key-layout name (its field and active-set member), from the namespace its ARN names."""
        namespace = namespace_of_arn(str(record.get("ReplayArn") or "")) or self.namespace
        return self.keys.keys.scoped(record["ReplayName"], namespace)

    # records --------------------------------------------------------------------------------------------------
    async def create(self, record: Record) -> None:
        name = record["ReplayName"]
        prefix = self.keys.keys.scoped("", self.namespace)
        args: list[Any] = [self._field(name), orjson.dumps(record), self.active_limit, prefix]
        with redis_errors("StartReplay"):
            outcome = status(await self._start(keys=[self.keys.replays, self.keys.active_replays], args=args))
        if outcome == "EXISTS":
            raise ResourceAlreadyExistsException(f"Replay {name} already exists.")
        if outcome == "LIMIT":
            raise limit_exceeded()

    async def get(self, name: str) -> Record | None:
        with redis_errors("read replay"):
            raw = await self.redis.hget(self.keys.replays, self._field(name))
        return _load(raw) if raw is not None else None

    async def require(self, name: str) -> Record:
        record = await self.get(name)
        if record is None:
            raise ResourceNotFoundException(f"Replay {name} does not exist.")
        return record

    async def all(self) -> list[Record]:
        with redis_errors("list replays"):
            raw = await self.redis.hgetall(self.keys.replays)
        mine = [(n, v) for f, v in raw.items() if (n := self.keys.keys.in_namespace(_text(f), self.namespace))]
        return [_load(value) for _, value in sorted(mine)]

    async def active(self) -> list[str]:
        """The key-layout names of every namespace's active replays (the runner gets their records with `get`)."""
        with redis_errors("list active replays"):
            names = await self.redis.smembers(self.keys.active_replays)
        return sorted(_text(name) for name in names)

    async def retire(self, name: str) -> None:
        """Drop an ended replay (by key-layout name, `key_of`) from the active set."""
        with redis_errors("end replay"):
            await self.redis.srem(self.keys.active_replays, name)

    # state ----------------------------------------------------------------------------------------------------
    def _state_keys(self, record: Record) -> list[str]:
        dest, name = record["DestinationBus"], record["ReplayName"]
        return [self.keys.replay_state(dest, name), self.keys.replay_lease(dest, name)]

    async def states(self, records: Sequence[Record]) -> list[ReplayState]:
        with redis_errors("read replay state"):
            async with self.redis.pipeline(transaction=False) as pipe:
                for record in records:
                    pipe.hgetall(self.keys.replay_state(record["DestinationBus"], record["ReplayName"]))
                found = await pipe.execute() if records else []
        return [ReplayState.of(fields) for fields in found]

    async def cancel(self, record: Record) -> None:
        """STARTING or RUNNING -> CANCELLING (the runner then ends it); IllegalStatusException otherwise."""
        with redis_errors("CancelReplay"):
            outcome = status(await self._cancel(keys=self._state_keys(record)[:1]))
        if outcome != "OK":
            raise IllegalStatusException(f"Replay {record['ReplayName']} is not in a valid state for this operation.")

    async def claim(self, record: Record, me: str, lease_ms: int, anchor_ms: int | None = None) -> ReplayState | None:
        """Take (or renew) the replay's lease; its state, or None when another process holds it."""
        args: list[Any] = [me, lease_ms, "" if anchor_ms is None else anchor_ms]
        fields = await self._claim(keys=self._state_keys(record), args=args)
        return None if fields is None else ReplayState.of(fields)

    async def renew(self, record: Record, me: str, lease_ms: int) -> bool:
        keys = self._state_keys(record)[1:]
        return bool(await self._renew(keys=keys, args=[me, lease_ms]))

    async def append(
        self,
        record: Record,
        *,
        me: str,
        expected: bytes,
        checkpoint: bytes,
        last_ms: int,
        lease_ms: int,
        events: Sequence[bytes],
        only_rules: str,
        backlog_limit: int = 0,
    ) -> Appended:
        """Append one page to the destination's ingest stream and move the checkpoint, atomically; FULL (nothing
        appended) while more than `backlog_limit` (0: no limit) of the destination's events wait for ingest."""
        dest = record["DestinationBus"]
        keys = [*self._state_keys(record), self.keys.keys.ingest(dest), self.keys.keys.bus_exists(dest)]
        args: list[Any] = [me, expected.hex(), checkpoint.hex(), last_ms, lease_ms, backlog_limit, INGEST_GROUP]
        args.append(only_rules)
        args.extend(events)
        return Appended(status(await self._append(keys=keys, args=args)))

    async def finish(self, record: Record, me: str, state: str, reason: str, only_from: Sequence[str]) -> str:
        """End the replay as `state` if it is in one of `only_from`; 'OK', 'LOST' or the state it is in."""
        args: list[Any] = [me, state, reason, round(time.time(), 3), *only_from]
        return status(await self._finish(keys=self._state_keys(record), args=args))


def _load(raw: Any) -> Record:
    record: Record = orjson.loads(raw)
    return record
