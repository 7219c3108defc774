"""The ingest worker: reads each bus's ingest stream through a consumer group, matches, records, acknowledges.

PutEvents only appends envelopes to `sb:{bus:B}:ingest`. Every router process runs one `IngestWorker`, which finds
the buses in the bus registry (a new bus is picked up within `discovery_interval_s`) and runs one loop per bus:

1. `XREADGROUP GROUP router <consumer> COUNT n BLOCK ms` on the bus's stream. The consumer name is unique per process
   (`host:pid:random`), so any number of processes share a bus's events, each event going to one of them.
2. Each event runs through the bus's compiled matcher (`router.matchers`; ENABLED rules with a pattern only). A
   scheduled event (router.schedules) carries the field `rule` and goes to that rule alone, if it is ENABLED. A
   replayed event with FilterArns (archive/) carries `only_rules` (comma-separated rule names) and goes to those of
   its matched rules only: the others neither count nor deliver it.
3. The matched (event, rule names) go to a `Sink`, which stages its writes as `Effects` (`CountingSink` counts
   MatchedEvents and TriggeredRules per rule; router.delivery.sink also stages delivery jobs, which commit atomically
   with the acknowledgement). A sink's optional `flush` runs once the batch is staged and before it is settled:
   the delivery sink makes its inline (queue and bus) deliveries there, so a crash before the ack repeats them.
4. One Lua script per batch settles it: for each entry that this consumer *still owns* (XPENDING), it XACKs it, applies
   its staged commands and adds its counter increments; an entry that was claimed away in the meantime changes
   nothing. So a crash before the commit means the entry is processed again, never lost, and counting is exactly
   once even if a slow consumer's entries were claimed by another process.
5. Recovery: every `claim_interval_s`, `XAUTOCLAIM` takes over entries idle for `claim_min_idle_ms` (their consumer
   died, e.g. kill -9) and processes them; a restarted process first re-reads its own pending entries (`0`).
6. Trimming: acknowledged entries are dropped with `XTRIM MINID ~ <id>`, where `<id>` is the oldest entry that some
   consumer group of the stream (ours, or later an archive's) has not acknowledged yet. Unacknowledged entries are
   never trimmed, and `~` only drops whole stream nodes below that id.

Keys written by the script live in the bus's hash slot (`{bus:B}`), so it runs unchanged on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from router.keys import INGEST_GROUP, Keys
from router.matchers import CompiledBus, MatcherCache
from router.metrics import FIELD_INGESTED, FIELD_MATCHED, rule_triggered_field

log = logging.getLogger("switchboard.ingest")


@dataclass(slots=True)
class Effects:
    """What processing one event should change, applied only if this consumer still owns the event."""

    counters: list[str] = field(default_factory=list)
    """Fields of the bus's counters hash to increment by one."""
    commands: list[tuple[str | bytes | int, ...]] = field(default_factory=list)
    """Further Redis commands (keys in the bus's hash slot), e.g. delivery jobs; must be idempotent."""
    hops: int = 0
    """Input, not output: how many event-bus targets the event has passed through (ingest field `hops`, written by
    router.delivery.bus_target), so the delivery sink can carry the loop bound on."""
    pending: list[Any] = field(default_factory=list)
    """Work the sink's `flush` does before the settle (router.delivery.sink: Redis-local deliveries made inline);
    `flush` turns each item into counters or commands of this entry."""


class Sink(Protocol):
    """Receives every matched event; stages its writes into `effects` (no I/O here: they commit with the ack).

    A sink may also have `async prepare(bus, compiled)`, awaited before a batch is staged, and `async flush(bus,
    batch_effects)`, awaited after the whole batch is staged and before its settle script runs (router.delivery.sink
    makes its inline deliveries there, so a crash before the ack repeats them: at least once)."""

    def stage(self, bus: str, event_id: bytes, event: bytes, rules: Sequence[str], effects: Effects) -> None: ...


class CountingSink:
    """Counts MatchedEvents per bus and TriggeredRules per rule; the delivery stage will extend this."""

    def stage(self, bus: str, event_id: bytes, event: bytes, rules: Sequence[str], effects: Effects) -> None:
        effects.counters.append(FIELD_MATCHED)
        effects.counters.extend(rule_triggered_field(rule) for rule in rules)


# KEYS: stream, counters.  ARGV: group, consumer, n, then per entry: id, n_fields, field..., n_cmds, (n_args, arg...)...
_SETTLE = """
local stream, counters = KEYS[1], KEYS[2]
local group, consumer = ARGV[1], ARGV[2]
local i = 4
local totals = {}
local owned_ids = {}
for _ = 1, tonumber(ARGV[3]) do
  local id = ARGV[i]
  local n_fields = tonumber(ARGV[i + 1])
  i = i + 2
  local owned = #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 1
  if owned then
    owned_ids[#owned_ids + 1] = id
    for f = i, i + n_fields - 1 do
      totals[ARGV[f]] = (totals[ARGV[f]] or 0) + 1
    end
  end
  i = i + n_fields
  local n_cmds = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n_cmds do
    local n_args = tonumber(ARGV[i])
    if owned then
      redis.call(unpack(ARGV, i + 1, i + n_args))
    end
    i = i + 1 + n_args
  end
end
if #owned_ids > 0 then
  redis.call('XACK', stream, group, unpack(owned_ids))
end
for name, value in pairs(totals) do
  redis.call('HINCRBY', counters, name, value)
end
return #owned_ids
"""

# KEYS: stream.  ARGV: group, me, min idle ms. Forget consumers with nothing pending that stopped reading long ago.
_FORGET_IDLE_CONSUMERS = """
local removed = 0
for _, info in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local c = {}
  for j = 1, #info, 2 do c[info[j]] = info[j + 1] end
  if c['name'] ~= ARGV[2] and tonumber(c['pending']) == 0 and tonumber(c['idle']) > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], c['name'])
    removed = removed + 1
  end
end
return removed
"""


def consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    batch_size: int = 500
    """XREADGROUP COUNT: an upper bound (a light load reads small batches); under a backlog, larger batches amortize
    the per-batch cost (delivery bench: fan-out +14% at 500 vs 100)."""
    block_ms: int = 1000
    claim_interval_s: float = 1.0
    claim_min_idle_ms: int = 5000
    discovery_interval_s: float = 0.5
    forget_consumer_idle_ms: int = 600_000
    error_backoff_s: float = 0.5


class IngestWorker:
    """One per process: a task that discovers buses, and one consumer loop per bus."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        matchers: MatcherCache,
        *,
        sink: Sink | None = None,
        options: WorkerOptions | None = None,
        consumer: str | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.matchers = matchers
        self.sink: Sink = sink if sink is not None else CountingSink()
        self.options = options or WorkerOptions()
        self.consumer = consumer or consumer_name()
        self._settle = redis.register_script(_SETTLE)
        self._forget = redis.register_script(_FORGET_IDLE_CONSUMERS)
        self._bus_tasks: dict[str, asyncio.Task[None]] = {}
        self._discovery: asyncio.Task[None] | None = None
        self._stopping = False
        self.processed_events = 0
        """Events this process settled (for tests and logs; the durable count is in Redis)."""

    # lifecycle ------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self._discover_once()
        self._discovery = asyncio.create_task(self._discover_forever(), name="ingest-discovery")

    async def stop(self) -> None:
        """Cancel the loops, and also tell them to stop: they see `_stopping` within one BLOCK period.

        Cancelling alone is not enough: a cancellation that lands inside redis-py's blocking read can surface as a
        connection error (or be absorbed by its read timeout), which the loops treat as transient and retry."""
        self._stopping = True
        tasks = [t for t in [self._discovery, *self._bus_tasks.values()] if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.options.block_ms / 1000 + 2.0)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5.0)
        self._bus_tasks.clear()
        self._discovery = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def buses(self) -> frozenset[str]:
        return frozenset(self._bus_tasks)

    # discovery ------------------------------------------------------------------------------------------------
    async def _discover_forever(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.options.discovery_interval_s)
            try:
                await self._discover_once()
            except (RedisConnectionError, RedisTimeoutError, OSError) as err:
                log.warning("bus discovery failed, retrying: %s", err)

    async def _discover_once(self) -> None:
        names = {n.decode() if isinstance(n, bytes) else str(n) for n in await self.redis.hkeys(self.keys.buses)}
        for bus in names - set(self._bus_tasks):
            self._bus_tasks[bus] = asyncio.create_task(self._run_bus(bus), name=f"ingest:{bus}")
        for bus in set(self._bus_tasks) - names:
            self._bus_tasks.pop(bus).cancel()
            self.matchers.forget(bus)

    # one bus --------------------------------------------------------------------------------------------------
    async def _ensure_group(self, stream: str) -> None:
        try:
            await self.redis.xgroup_create(stream, INGEST_GROUP, id="0", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    async def _run_bus(self, bus: str) -> None:
        stream = self.keys.ingest(bus)
        own_backlog = True  # first re-read what this consumer holds but has not acknowledged
        next_maintenance = 0.0
        opts = self.options
        while not self._stopping:
            try:
                if own_backlog:
                    await self._ensure_group(stream)
                now = time.monotonic()
                if now >= next_maintenance:
                    next_maintenance = now + opts.claim_interval_s
                    await self._claim_abandoned(bus, stream)
                    await self._trim(stream)
                reply: Any
                if own_backlog:
                    reply = await self.redis.xreadgroup(
                        INGEST_GROUP, self.consumer, {stream: "0"}, count=opts.batch_size
                    )
                else:
                    reply = await self.redis.xreadgroup(
                        INGEST_GROUP, self.consumer, {stream: ">"}, count=opts.batch_size, block=opts.block_ms
                    )
                entries = reply[0][1] if reply else []
                if own_backlog and not entries:
                    own_backlog = False
                    continue
                if entries:
                    await self._process(bus, stream, entries)
            except asyncio.CancelledError:
                raise
            except ResponseError as err:
                if self.stopping:
                    return
                if "NOGROUP" not in str(err):
                    log.warning("bus %s: redis error in the ingest loop: %s", bus, err)
                    await asyncio.sleep(opts.error_backoff_s)
                own_backlog = True  # the stream or group vanished (e.g. bus re-created): set it up again
            except (RedisConnectionError, RedisTimeoutError, OSError) as err:
                if self.stopping:
                    return
                log.warning("bus %s: redis unavailable, retrying: %s", bus, err)
                own_backlog = True
                await asyncio.sleep(opts.error_backoff_s)
            except Exception:
                if self.stopping:
                    return
                log.exception("bus %s: unexpected error in the ingest loop", bus)
                own_backlog = True
                await asyncio.sleep(opts.error_backoff_s)

    async def _claim_abandoned(self, bus: str, stream: str) -> None:
        """Take over entries whose consumer stopped (idle >= claim_min_idle_ms), and process them."""
        start: bytes | str = "0-0"
        for _ in range(100):  # bounded per round; the rest waits for the next round
            reply = await self.redis.xautoclaim(
                stream,
                INGEST_GROUP,
                self.consumer,
                min_idle_time=self.options.claim_min_idle_ms,
                start_id=start,
                count=self.options.batch_size,
            )
            start, entries = reply[0], reply[1]
            if entries:
                log.info("bus %s: claimed %d abandoned events", bus, len(entries))
                await self._process(bus, stream, entries)
            if start in (b"0-0", "0-0"):
                break
        await self._forget(keys=[stream], args=[INGEST_GROUP, self.consumer, self.options.forget_consumer_idle_ms])

    async def _trim(self, stream: str) -> None:
        """Drop entries every consumer group of the stream has acknowledged (never an unacknowledged one)."""
        groups = await self.redis.xinfo_groups(stream)
        if not groups:
            return
        floor: tuple[int, int] | None = None
        for group in groups:
            if int(group["pending"]) > 0:
                summary = await self.redis.xpending(stream, group["name"])
                candidate = _parse_id(summary["min"])
            else:
                ms, seq = _parse_id(group["last-delivered-id"])
                candidate = (ms, seq + 1)
            floor = candidate if floor is None else min(floor, candidate)
        if floor is not None and floor > (0, 1):
            await self.redis.xtrim(stream, minid=f"{floor[0]}-{floor[1]}", approximate=True)

    async def _process(self, bus: str, stream: str, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        compiled = await self.matchers.get(bus)
        if _names_unknown_scheduled_rule(compiled, entries):
            compiled = await self.matchers.reload(bus)  # a scheduled event of a rule this process has not seen yet
        prepare = getattr(self.sink, "prepare", None)  # a sink that needs I/O first (router.delivery.sink)
        if prepare is not None:
            await prepare(bus, compiled)
        staged: list[tuple[bytes, Effects]] = []
        for entry_id, fields in entries:
            effects = Effects(counters=[FIELD_INGESTED], hops=int(fields.get(b"hops") or 0) if fields else 0)
            event = fields.get(b"event") if fields else None
            if event is not None:
                named = fields.get(b"rule")  # a scheduled event: for its own rule only (router.schedules)
                rules = _match(compiled, event) if named is None else _scheduled_rule(compiled, named)
                only = fields.get(b"only_rules")  # a replayed event with FilterArns: those rules only (archive/)
                if only is not None and rules:
                    allowed = set(only.decode(errors="replace").split(","))
                    rules = [rule for rule in rules if rule in allowed]
                if rules:
                    self.sink.stage(bus, entry_id, event, rules, effects)
            else:  # a deleted entry (XAUTOCLAIM) or one not written by PutEvents: acknowledge, count nothing more
                log.warning("bus %s: stream entry %r has no event field; acknowledged without routing", bus, entry_id)
            staged.append((entry_id, effects))
        flush = getattr(self.sink, "flush", None)
        if flush is not None:
            await flush(bus, [effects for _, effects in staged])
        args: list[Any] = [INGEST_GROUP, self.consumer, len(entries)]
        for entry_id, effects in staged:
            args.append(entry_id)
            args.append(len(effects.counters))
            args.extend(effects.counters)
            args.append(len(effects.commands))
            for command in effects.commands:
                args.append(len(command))
                args.extend(command)
        settled = await self._settle(keys=[stream, self.keys.bus_counters(bus)], args=args)
        self.processed_events += int(settled)


def _match(compiled: CompiledBus, event: bytes) -> list[str]:
    try:
        return compiled.match(event)
    except Exception as err:  # an event the matcher cannot read matches nothing; it is never retried forever
        log.warning("bus %s: event could not be matched: %s", compiled.bus, err)
        return []


def _names_unknown_scheduled_rule(compiled: CompiledBus, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> bool:
    for _, fields in entries:
        named = fields.get(b"rule") if fields else None
        if named is not None and named.decode(errors="replace") not in compiled.scheduled:
            return True
    return False


def _scheduled_rule(compiled: CompiledBus, named: bytes) -> list[str]:
    rule = named.decode(errors="replace")
    return [rule] if rule in compiled.scheduled else []


def _parse_id(value: bytes | str) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)
