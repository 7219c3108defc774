"""Saga instances in Redis: load, commit a decision atomically with its outbox, read and clear the outbox, and keep
the per-shard index that listings, pages and metrics read. Key layout: sagas.keys.

**Commit** is one script on the instance's four keys (one hash slot): it refuses an input any of whose ids the
instance has seen (a duplicate: `DUPLICATE`), refuses a stale version (another process committed first:
`CONFLICT`, the caller decides again from fresh state), and otherwise writes the new state, appends the history,
adds the outgoing messages to the outbox and remembers the input's ids, all or nothing. So the state never moves
without its messages, and a redelivered or replayed input can never be applied twice.

**The outbox** is dispatched after the commit (sagas.outbox) and each message removed once it is out. A process
that dies in between leaves the messages there; the input that produced them was not acknowledged, so it comes
back (queue redelivery, or the timer's lease running out), is found to be a duplicate, and the outbox is
dispatched then. Dispatch is at least once: receivers drop duplicates by the message id.

**The index** (`{sagas:T:N}` keys) is written after the commit with the instance's version, and an older version
never overwrites a newer one, so the write is idempotent and may be repeated after a crash.

The hot path's commands (load, commit, outbox removal with the index write) go through a `sagas.batching.Coalescer`,
so concurrent inputs of many instances share round trips; each call is still its own script or command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from sagas.batching import Coalescer, ScriptCall
from sagas.context import SagaMessage
from sagas.engine import Decision
from sagas.instance import FINAL_STATUSES, Instance
from sagas.keys import SagaKeys, shard_of

__all__ = ["COMMITTED", "COMMITTED_AFTER_BACKLOG", "CONFLICT", "DUPLICATE", "IndexEntry", "SagaStore"]

COMMITTED = 1
COMMITTED_AFTER_BACKLOG = 2
"""Committed, and the outbox already held messages of an earlier commit (a crash before their dispatch)."""
CONFLICT = 0
DUPLICATE = -1

# KEYS: state, history, outbox, seen.
# ARGV: expected version, new version, doc, status, state, history limit, n seen, seen ids..., n history,
#       entries..., n messages, (seq, message)...
_COMMIT = """
local nseen = tonumber(ARGV[7])
for j = 1, nseen do
  if redis.call('HEXISTS', KEYS[4], ARGV[7 + j]) == 1 then return -1 end
end
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'doc', ARGV[3], 'status', ARGV[4], 'state', ARGV[5])
for j = 1, nseen do redis.call('HSET', KEYS[4], ARGV[7 + j], ARGV[2]) end
local i = 8 + nseen
local nhistory = tonumber(ARGV[i])
for j = 1, nhistory do redis.call('RPUSH', KEYS[2], ARGV[i + j]) end
if nhistory > 0 then redis.call('LTRIM', KEYS[2], -tonumber(ARGV[6]), -1) end
i = i + nhistory + 1
local backlog = redis.call('HLEN', KEYS[3])
local nmessages = tonumber(ARGV[i])
for j = 0, nmessages - 1 do redis.call('HSET', KEYS[3], ARGV[i + 1 + 2 * j], ARGV[i + 2 + 2 * j]) end
if backlog > 0 then return 2 end
return 1
"""

_FINAL_LUA = "{" + ", ".join(f"['{s}'] = true" for s in sorted(FINAL_STATUSES)) + "}"

# KEYS: index, counts, counters. ARGV: instance key, version, status, state, entry JSON.
# Returns 1 when written, 0 when the index already holds this version or a newer one.
_INDEX = (
    "local final = " + _FINAL_LUA + "\n"
    """
local version = tonumber(ARGV[2])
local old = redis.call('HGET', KEYS[1], ARGV[1])
local commits = version
local was_final = false
if old then
  local o = cjson.decode(old)
  if tonumber(o['version']) >= version then return 0 end
  local field = o['status'] .. '|' .. o['state']
  if redis.call('HINCRBY', KEYS[2], field, -1) <= 0 then redis.call('HDEL', KEYS[2], field) end
  commits = version - tonumber(o['version'])
  was_final = final[o['status']] == true
else
  redis.call('HINCRBY', KEYS[3], 'started', 1)
end
redis.call('HINCRBY', KEYS[2], ARGV[3] .. '|' .. ARGV[4], 1)
redis.call('HINCRBY', KEYS[3], 'commits', commits)
if final[ARGV[3]] and not was_final then redis.call('HINCRBY', KEYS[3], 'finished:' .. ARGV[3], 1) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
return 1
"""
)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    key: str
    id: str
    status: str
    state: str
    version: int
    created_ms: int
    updated_ms: int

    @classmethod
    def parse(cls, key: str, raw: bytes) -> IndexEntry:
        doc = orjson.loads(raw)
        return cls(
            key=key,
            id=str(doc["id"]),
            status=str(doc["status"]),
            state=str(doc["state"]),
            version=int(doc["version"]),
            created_ms=int(doc.get("created_ms", 0)),
            updated_ms=int(doc.get("updated_ms", 0)),
        )


class SagaStore:
    def __init__(
        self, redis: aioredis.Redis, keys: SagaKeys, *, history_limit: int = 500, batch: Coalescer | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.history_limit = history_limit
        self.batch = batch or Coalescer(redis)
        self._commit = redis.register_script(_COMMIT)
        self._index = redis.register_script(_INDEX)

    # one instance -------------------------------------------------------------------------------------------
    async def load(self, saga: str, key: str, ids: Sequence[str] = ()) -> tuple[Instance | None, bool]:
        """The instance (None if there is none) and whether any of `ids` was seen already (one round trip)."""
        commands: list[tuple[Any, ...]] = [("HGET", self.keys.state(saga, key), "doc")]
        if ids:
            commands.append(("HMGET", self.keys.seen(saga, key), *ids))
        results = await self.batch.run(commands)
        instance = Instance.loads(results[0]) if results[0] is not None else None
        seen = bool(ids) and any(v is not None for v in results[1])
        return instance, seen

    async def get(self, saga: str, key: str) -> Instance | None:
        raw: bytes | None = await self.redis.hget(self.keys.state(saga, key), "doc")  # type: ignore[assignment]
        return Instance.loads(raw) if raw is not None else None

    async def commit(self, decision: Decision, expected_version: int) -> int:
        """COMMITTED (or COMMITTED_AFTER_BACKLOG), CONFLICT (the version moved: decide again) or DUPLICATE (an
        input id was seen)."""
        instance = decision.instance
        if instance is None:
            raise ValueError("nothing to commit")
        args: list[Any] = [
            expected_version,
            instance.version,
            instance.dumps(),
            instance.status,
            instance.state,
            self.history_limit,
            len(decision.seen),
            *decision.seen,
            len(decision.history),
            *(orjson.dumps(entry) for entry in decision.history),
            len(decision.messages),
        ]
        for message in decision.messages:
            args += [message["seq"], orjson.dumps(message)]
        keys = self.keys.instance_keys(instance.saga, instance.key)
        (result,) = await self.batch.run([ScriptCall(self._commit, keys, args)])
        return int(result)

    async def outbox(self, saga: str, key: str) -> list[SagaMessage]:
        """Committed messages not dispatched yet, in the order they were produced."""
        (raw,) = await self.batch.run([("HGETALL", self.keys.outbox(saga, key))])
        messages = [orjson.loads(v) for v in raw.values()]
        return sorted(messages, key=lambda m: int(m["seq"]))

    def remove_outbox_command(self, saga: str, key: str, seqs: Sequence[int]) -> tuple[Any, ...]:
        return ("HDEL", self.keys.outbox(saga, key), *[str(s) for s in seqs])

    async def history(self, saga: str, key: str) -> list[dict[str, Any]]:
        return [orjson.loads(e) for e in await self.redis.lrange(self.keys.history(saga, key), 0, -1)]

    async def note(self, saga: str, key: str, entry: dict[str, Any]) -> None:
        """A history entry outside a transition (a message that could not be dispatched)."""
        await self.redis.rpush(self.keys.history(saga, key), orjson.dumps(entry))

    # the index ----------------------------------------------------------------------------------------------
    async def sync_index(self, instance: Instance, shards: int) -> bool:
        (written,) = await self.batch.run([self.index_call(instance, shards)])
        return bool(written)

    def index_call(self, instance: Instance, shards: int) -> ScriptCall:
        """The index write for the instance's current version (idempotent), to pipeline with other commands."""
        shard = shard_of(instance.key, shards)
        entry = {
            "id": instance.id,
            "status": instance.status,
            "state": instance.state,
            "version": instance.version,
            "created_ms": instance.created_ms,
            "updated_ms": instance.updated_ms,
        }
        keys = [
            self.keys.index(instance.saga, shard),
            self.keys.counts(instance.saga, shard),
            self.keys.counters(instance.saga, shard),
        ]
        args: list[Any] = [instance.key, instance.version, instance.status, instance.state, orjson.dumps(entry)]
        return ScriptCall(self._index, keys, args)

    async def count(self, saga: str, shard: int, counter: str, amount: int = 1) -> None:
        await self.batch.run([("HINCRBY", self.keys.counters(saga, shard), counter, amount)])

    async def counts(self, saga: str, shards: int) -> dict[tuple[str, str], int]:
        """(status, state) -> instances, over every shard of the saga type."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in range(shards):
                pipe.hgetall(self.keys.counts(saga, shard))
            results = await pipe.execute()
        out: dict[tuple[str, str], int] = {}
        for raw in results:
            for field, value in raw.items():
                status, _, state = _text(field).partition("|")
                out[(status, state)] = out.get((status, state), 0) + int(value)
        return {k: v for k, v in out.items() if v > 0}

    async def counters(self, saga: str, shards: int) -> dict[str, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in range(shards):
                pipe.hgetall(self.keys.counters(saga, shard))
            results = await pipe.execute()
        out: dict[str, int] = {}
        for raw in results:
            for field, value in raw.items():
                out[_text(field)] = out.get(_text(field), 0) + int(value)
        return out

    async def entries(self, saga: str, shards: int) -> list[IndexEntry]:
        """Every instance of the saga type in the index (HSCAN, shard by shard)."""
        out: list[IndexEntry] = []
        for shard in range(shards):
            async for field, value in self.redis.hscan_iter(self.keys.index(saga, shard), count=1000):
                out.append(IndexEntry.parse(_text(field), value))
        return out


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
