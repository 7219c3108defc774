"""The ingest worker: reads the buses' ingest streams through a consumer group, matches, records, acknowledges.

PutEvents only appends envelopes to `sb:{b:N}:bus:B:ingest`. Every router process runs one `IngestWorker`, which
finds the buses in the bus registry and runs one loop per bus *partition* (router.partitioned; router.keys explains
the partitions), so a process holds one blocking connection per partition whatever the number of buses:

1. `XREADGROUP GROUP router <consumer> COUNT n BLOCK ms STREAMS <every ingest stream of the partition>` on the
   partition's own connection (router.stream_reader). The consumer name is unique per process (`host:pid:random`),
   so any number of processes share a bus's events, each event going to one of them.
2. Each bus's events run through the bus's compiled matcher (`router.matchers`; ENABLED rules with a pattern only). A
   scheduled event (router.schedules) carries the field `rule` and goes to that rule alone, if it is ENABLED. A
   replayed event with FilterArns (archive/) carries `only_rules` (comma-separated rule names) and goes to those of
   its matched rules only: the others neither count nor deliver it.
   Matching never holds the event loop for long: a batch is matched in chunks of at most `CHUNK_BYTES` of events,
   the loop gets a turn between chunks, and a chunk of big events (over `INLINE_MATCH_BYTES`) is matched in a
   worker thread, so a 900 KB event, or a matcher that is slow on it, leaves the loop free to serve requests.
3. The matched (event, rule names) go to a `Sink`, which stages its writes as `Effects` (`CountingSink` counts
   MatchedEvents and TriggeredRules per rule; router.delivery.sink also stages delivery jobs, which commit atomically
   with the acknowledgement). A sink's optional `flush` runs once the batch is staged and before it is settled:
   the delivery sink makes its inline (queue and bus) deliveries there, so a crash before the ack repeats them.
4. One Lua script per batch settles it: for each entry that this consumer *still owns* (one range `XPENDING` of the
   consumer's entries per batch), it XACKs it, applies its staged commands and adds its counter increments (each
   distinct list of counter fields travels once per batch); an entry that was claimed away in the meantime changes
   nothing. So a crash before the commit means the entry is processed again, never lost, and counting is exactly
   once even if a slow consumer's entries were claimed by another process. Every key a staged command writes is
   declared to the script (KEYS), and all of them are in the bus's slot. The batch's `ZADD key score member` and
   `HINCRBY key field n` commands (an archive's, archive/) travel merged, one per key (and field, summed), and are
   applied only when the consumer still owns every entry of the batch; when it does not, the script changes
   nothing and the batch is settled again with each entry's own commands.
5. Recovery and trimming, every `claim_interval_s`, in one script per partition (the scripts of all partitions in
   one pipelined round trip): `XAUTOCLAIM` takes over entries idle for `claim_min_idle_ms` (their consumer died,
   e.g. kill -9; they are then processed here), and each stream this process has processed since the last round
   (and every tenth round every stream, for the groups that acknowledge later) is trimmed with `XTRIM MINID ~ <id>`,
   where `<id>` is the oldest entry that some consumer group of the stream (ours, or an archive's) has not
   acknowledged yet. Unacknowledged entries are never trimmed, and computing the floor in
   the same script as the trim leaves no room for the race two processes used to hit. A (re)started loop first
   re-reads its own pending entries (`0`). A batch that takes longer than a third of `claim_min_idle_ms` to
   route (a huge event, a slow matcher) keeps its entries fresh meanwhile (`XCLAIM ... JUSTID` to itself), so it is
   never taken over while it is being routed.

**Parking.** An event whose matching fails with an internal error (the matcher raised) is never acknowledged as if it
had been routed: the bus's matcher is rebuilt and the event tried again, `match_attempts` times in all
(`match_retry_delay_s` apart); if it still fails it is *parked*: moved, in the settle script that acknowledges it, to
the bus's parked stream `sb:{b:N}:bus:B:ingest-parked` with all its fields plus `parked_reason` (`internal-error`),
`parked_error` (the error text), `parked_from` (its ingest entry id) and `parked_ms`, and counted in the bus's
`ParkedEvents` counter (metric `switchboard_ingest_parked_events_total`). The bus's other events keep flowing. An
entry that is not an event at all (no `event` field, or, found when a rule is matched against it, one that is not a
JSON object: PutEvents never writes such an entry, so it was written by hand or by another program) is parked at once
with reason `malformed`: retrying cannot help, and nothing is dropped. `switchboard ingest parked BUS` lists a bus's
parked events and `switchboard ingest redrive BUS` appends them back to the bus's ingest stream (router.ingest_cli;
`redrive` here). Parked events are not
counted as IngestedEvents; a re-driven event is counted when it is processed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from redis.exceptions import RedisError, ResponseError

from router.keys import INGEST_GROUP, Keys, bus_partition
from router.matchers import CompiledBus, MatcherCache
from router.metrics import FIELD_INGESTED, FIELD_MATCHED, FIELD_PARKED, rule_triggered_field
from router.partitioned import LUA_CLAIM, Partition, PartitionedWorker, WorkerOptions, consumer_name
from router.redis_client import AnyRedis, run_script_many
from router.stream_reader import Entry

__all__ = [
    "CHUNK_BYTES",
    "INLINE_MATCH_BYTES",
    "OFF_LOOP_BYTES",
    "REDRIVE_SCRIPT",
    "CountingSink",
    "Effects",
    "IngestWorker",
    "Sink",
    "WorkerOptions",
    "consumer_name",
]

log = logging.getLogger("switchboard.ingest")

CHUNK_BYTES = 256 * 1024
"""A batch is matched in chunks of at most this many bytes of events (or one bigger event), the loop between them."""
CHUNK_EVENTS = 200
"""... and of at most this many events."""
OFF_LOOP_BYTES = 32 * 1024
"""Work on more bytes of events than this runs in a worker thread, not on the event loop: matching a chunk here,
building a PutEvents request's envelopes (router.api.put_events), shaping a target's input (router.delivery)."""
INLINE_MATCH_BYTES = OFF_LOOP_BYTES
"""A chunk of more bytes than this is matched in the worker thread."""

PARKED_REASON_INTERNAL = "internal-error"
PARKED_REASON_MALFORMED = "malformed"


@dataclass(slots=True)
class Effects:
    """What processing one event should change, applied only if this consumer still owns the event."""

    counters: list[str] = field(default_factory=list)
    """Fields of the bus's counters hash to increment by one."""
    commands: list[tuple[str | bytes | int, ...]] = field(default_factory=list)
    """Further Redis commands `(name, key, args...)`, e.g. delivery jobs; the key is in the bus's hash slot (it is
    declared to the settle script) and the command must be idempotent. `ZADD key score member` and `HINCRBY key
    field n` (n an int) are merged across the batch (see the settle script): their order among the batch's other
    commands is not kept, so no staged command may depend on it."""
    hops: int = 0
    """Input, not output: how many event-bus targets the event has passed through (ingest field `hops`, written by
    router.delivery.bus_target), so the delivery sink can carry the loop bound on."""
    pending: list[Any] = field(default_factory=list)
    """Work the sink's `flush` does before the settle (router.delivery.sink: Redis-local deliveries made inline);
    `flush` turns each item into counters or commands of this entry."""


class Sink(Protocol):
    """Receives every matched event; stages its writes into `effects` (no I/O here: they commit with the ack).

    A sink may also have `async prepare(bus, compiled, rules)` (the rules the batch matched), awaited before the batch
    is staged, and `async flush(bus,
    batch_effects)`, awaited after the whole batch is staged and before its settle script runs (router.delivery.sink
    makes its inline deliveries there, so a crash before the ack repeats them: at least once)."""

    def stage(self, bus: str, event_id: bytes, event: bytes, rules: Sequence[str], effects: Effects) -> None: ...


class CountingSink:
    """Counts MatchedEvents per bus and TriggeredRules per rule; the delivery stage will extend this."""

    def stage(self, bus: str, event_id: bytes, event: bytes, rules: Sequence[str], effects: Effects) -> None:
        counters = effects.counters
        counters.append(FIELD_MATCHED)
        for rule in rules:
            counters.append(rule_triggered_field(rule))


# KEYS: stream, counters, then every key a staged command writes.
# ARGV: group, consumer, n, n_profiles, then per counter profile: n_fields, field..., then n_merged, then per merged
# command: n_args, name, key index, arg..., then per entry: id, profile (0: none), n_cmds, (n_args, name, key index,
# arg...)...
# A *counter profile* is one list of counter fields; a batch's entries share a few (every event of a request matched
# the same rules and reached the same targets), so each field travels once per batch, not once per event.
# *Merged commands* are the batch's entries' `ZADD key score member` and `HINCRBY key field n` commands, one per key
# (the increments summed): applied only if this consumer still owns *every* entry of the batch; otherwise the
# script changes nothing and returns -1, and the caller settles the batch again with each entry's own commands.
# Ownership: one range XPENDING of this consumer's entries (count n) lists the batch, as a rule; an id it does not
# list is not owned, unless the listing was cut short (this consumer holds other entries too, e.g. a claimed batch
# in flight): that id is then checked on its own.
_SETTLE = """
local stream, counters = KEYS[1], KEYS[2]
local group, consumer = ARGV[1], ARGV[2]
local n = tonumber(ARGV[3])
local i = 5
local profiles = {}
for p = 1, tonumber(ARGV[4]) do
  local n_fields = tonumber(ARGV[i])
  profiles[p] = {i + 1, i + n_fields}
  i = i + 1 + n_fields
end
local n_merged = tonumber(ARGV[i])
i = i + 1
local merged_at = i
for _ = 1, n_merged do i = i + 1 + tonumber(ARGV[i]) end
local mine = {}
local complete = true
if n > 0 then
  local listed = redis.call('XPENDING', stream, group, '-', '+', n, consumer)
  for _, entry in ipairs(listed) do mine[entry[1]] = true end
  complete = #listed < n
end
if n_merged > 0 then
  local j = i
  for _ = 1, n do
    local id = ARGV[j]
    if mine[id] ~= true and (complete or #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0) then
      return -1
    end
    j = j + 2
    local n_cmds = tonumber(ARGV[j])
    j = j + 1
    for _ = 1, n_cmds do j = j + 1 + tonumber(ARGV[j]) end
  end
  local m = merged_at
  for _ = 1, n_merged do
    local n_args = tonumber(ARGV[m])
    redis.call(ARGV[m + 1], KEYS[tonumber(ARGV[m + 2])], unpack(ARGV, m + 3, m + n_args))
    m = m + 1 + n_args
  end
end
local uses = {}
local owned_ids = {}
for _ = 1, n do
  local id = ARGV[i]
  local profile = tonumber(ARGV[i + 1])
  local owned = mine[id] == true
  if not owned and not complete then
    owned = #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 1
  end
  i = i + 2
  if owned then
    owned_ids[#owned_ids + 1] = id
    if profile > 0 then uses[profile] = (uses[profile] or 0) + 1 end
  end
  local n_cmds = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n_cmds do
    local n_args = tonumber(ARGV[i])
    if owned then
      redis.call(ARGV[i + 1], KEYS[tonumber(ARGV[i + 2])], unpack(ARGV, i + 3, i + n_args))
    end
    i = i + 1 + n_args
  end
end
if #owned_ids > 0 then
  redis.call('XACK', stream, group, unpack(owned_ids))
end
local totals = {}
for p, count in pairs(uses) do
  for f = profiles[p][1], profiles[p][2] do
    totals[ARGV[f]] = (totals[ARGV[f]] or 0) + count
  end
end
for name, value in pairs(totals) do
  redis.call('HINCRBY', counters, name, value)
end
return #owned_ids
"""

# KEYS: the ingest streams of one partition. ARGV: group, me, min idle ms, claim budget, forget-idle ms (0: skip),
# then per stream '1' to trim it or '0'. For each stream: when some entry is pending, take over entries idle for
# longer than `min idle` (XAUTOCLAIM, bounded by the budget); trim what every group has acknowledged (when asked:
# streams this process has processed since its last round); and (when asked) forget consumers with nothing pending
# that stopped reading long ago. Returns {{stream index, claimed entries}...}, {indexes of streams without the group}.
_MAINTAIN = (
    LUA_CLAIM
    + """
local group, me, min_idle = ARGV[1], ARGV[2], ARGV[3]
local budget, forget = tonumber(ARGV[4]), tonumber(ARGV[5])
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local out, missing = {}, {}
for k = 1, #KEYS do
  local stream = KEYS[k]
  local summary = redis.pcall('XPENDING', stream, group)
  if summary['err'] then
    missing[#missing + 1] = k
  else
    if tonumber(summary[1]) > 0 and budget > 0 then
      local found
      found, budget = claim(stream, group, me, min_idle, budget)
      if #found > 0 then out[#out + 1] = {k, found} end
    end
    if ARGV[5 + k] == '1' then
      local floor_ms, floor_seq = nil, nil
      for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
        local info = {}
        for j = 1, #g, 2 do info[g[j]] = g[j + 1] end
        local ms, seq
        if tonumber(info['pending']) > 0 then
          ms, seq = parse(redis.call('XPENDING', stream, info['name'])[2])
        else
          ms, seq = parse(info['last-delivered-id'])
          seq = seq + 1
        end
        if floor_ms == nil or ms < floor_ms or (ms == floor_ms and seq < floor_seq) then
          floor_ms, floor_seq = ms, seq
        end
      end
      if floor_ms ~= nil and (floor_ms > 0 or floor_seq > 1) then
        redis.call('XTRIM', stream, 'MINID', '~', string.format('%d-%d', floor_ms, floor_seq))
      end
    end
    if forget > 0 then
      for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', stream, group)) do
        local info = {}
        for j = 1, #c, 2 do info[c[j]] = c[j + 1] end
        if info['name'] ~= me and tonumber(info['pending']) == 0 and tonumber(info['idle']) > forget then
          redis.call('XGROUP', 'DELCONSUMER', stream, group, info['name'])
        end
      end
    end
  end
end
return {out, missing}
"""
)

# KEYS: parked stream, ingest stream, bus exists marker. ARGV: n (max entries), then ids (none: the oldest n).
# Appends parked entries back to the ingest stream (without the parked_* fields) and deletes them; false: no bus.
# (router.ingest_cli's `switchboard ingest redrive`.)
REDRIVE_SCRIPT = """
if redis.call('EXISTS', KEYS[3]) == 0 then return false end
local entries = {}
if #ARGV > 1 then
  for i = 2, #ARGV do
    local found = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
    if #found == 1 then entries[#entries + 1] = found[1] end
  end
else
  entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[1]))
end
local moved = 0
for _, entry in ipairs(entries) do
  local fields = {}
  local flat = entry[2]
  for j = 1, #flat, 2 do
    if string.sub(flat[j], 1, 7) ~= 'parked_' then
      fields[#fields + 1] = flat[j]
      fields[#fields + 1] = flat[j + 1]
    end
  end
  if #fields == 0 then fields = {'event', ''} end
  redis.call('XADD', KEYS[2], '*', unpack(fields))
  redis.call('XDEL', KEYS[1], entry[1])
  moved = moved + 1
end
return moved
"""

_FORGET_EVERY = 60
"""Forget idle consumers every this many maintenance rounds."""
_SWEEP_EVERY = 10
"""Trim every stream of the partition (not only those processed since the last round) every this many rounds."""


class _Failed:
    """A match that raised: the error, and whether the entry is malformed (no retry helps) or met an internal error."""

    __slots__ = ("error", "malformed")

    def __init__(self, error: str, malformed: bool) -> None:
        self.error = error
        self.malformed = malformed


def _match_chunk(compiled: CompiledBus, events: Sequence[bytes | None]) -> list[list[str] | _Failed]:
    out: list[list[str] | _Failed] = []
    for event in events:
        if event is None:
            out.append(_Failed("the stream entry has no event field", True))
            continue
        try:
            out.append(compiled.match(event))
        except Exception as err:
            out.append(_Failed(f"{type(err).__name__}: {err}", _malformed(event)))
    return out


def _malformed(event: bytes) -> bool:
    try:
        return not isinstance(orjson.loads(event), dict)
    except orjson.JSONDecodeError:
        return True


class IngestWorker(PartitionedWorker):
    """One per process: one loop per bus partition (router.partitioned), reading all its buses' ingest streams."""

    role = "ingest"

    def __init__(
        self,
        redis: AnyRedis,
        keys: Keys,
        matchers: MatcherCache,
        *,
        sink: Sink | None = None,
        options: WorkerOptions | None = None,
        consumer: str | None = None,
    ) -> None:
        super().__init__(redis, keys, options, consumer)
        self.matchers = matchers
        self.sink: Sink = sink if sink is not None else CountingSink()
        self._settle = redis.register_script(_SETTLE)
        self._maintain = redis.register_script(_MAINTAIN)
        self._rounds = 0
        self._keepers: set[asyncio.Task[None]] = set()
        self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchboard-match")
        self.processed_events = 0
        """Events this process settled (for tests and logs; the durable count is in Redis)."""
        self.parked_events = 0
        """Events this process parked (the durable count is the buses' ParkedEvents counters)."""

    async def stop(self) -> None:
        await super().stop()
        self._threads.shutdown(wait=False, cancel_futures=True)

    # partition loop -------------------------------------------------------------------------------------------
    def buses_changed(self, partition: Partition, added: set[str], removed: set[str]) -> None:
        state = partition.state
        state.setdefault("setup", set()).update(added)
        for bus in removed:
            state.setdefault("ready", set()).discard(bus)
            state.setdefault("backlog", set()).discard(bus)
            self.matchers.forget(bus)

    def after_error(self, partition: Partition) -> None:
        state = partition.state
        state.setdefault("setup", set()).update(partition.buses)  # the stream or group may have vanished

    async def run_once(self, partition: Partition) -> None:
        state = partition.state
        ready: set[str] = state.setdefault("ready", set())
        setup: set[str] = state.setdefault("setup", set())
        backlog: set[str] = state.setdefault("backlog", set())
        opts = self.options
        if setup:
            buses = sorted(setup & partition.buses)
            setup.clear()
            await self._ensure_groups(buses)
            ready.update(buses)
            backlog.update(buses)  # first re-read what this consumer holds but has not acknowledged
        try:
            if backlog:
                await self._read_own_backlog(partition, sorted(backlog & ready), backlog)
                return
            streams: dict[str, str | bytes] = {self.keys.ingest(bus): ">" for bus in sorted(ready)}
            reply = await self.blocking_read(partition, INGEST_GROUP, streams, opts.batch_size, opts.block_ms)
        except ResponseError as err:
            if "NOGROUP" not in str(err):
                raise
            setup.update(partition.buses)  # a stream or its group vanished (e.g. the keys were deleted): set up again
            return
        by_stream = {self.keys.ingest(bus): bus for bus in ready}
        for stream, entries in reply:
            bus = by_stream.get(stream)
            if entries and bus is not None:
                await self._process(bus, stream, entries)

    async def _ensure_groups(self, buses: Sequence[str]) -> None:
        if not buses:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for bus in buses:
                pipe.xgroup_create(self.keys.ingest(bus), INGEST_GROUP, id="0", mkstream=True)
            results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, ResponseError) and "BUSYGROUP" not in str(result):
                raise result

    async def _read_own_backlog(self, partition: Partition, buses: Sequence[str], backlog: set[str]) -> None:
        if not buses:
            backlog.clear()
            return
        streams: dict[str, str | bytes] = {self.keys.ingest(bus): "0" for bus in buses}
        reply = await partition.reader.xreadgroup(
            INGEST_GROUP, self.consumer, streams, count=self.options.batch_size, block_ms=None
        )
        found = {stream: entries for stream, entries in reply if entries}
        for bus in buses:
            stream = self.keys.ingest(bus)
            entries = found.get(stream)
            if entries:
                await self._process(bus, stream, entries)
            else:
                backlog.discard(bus)

    async def maintain(self, partitions: list[Partition]) -> None:
        """Every `claim_interval_s`, one script per partition (all in one pipelined round trip): claim abandoned
        entries (then processed here), trim the streams this process processed since the last round, and now and
        then forget idle consumers."""
        opts = self.options
        self._rounds += 1
        forget = opts.forget_consumer_idle_ms if self._rounds % _FORGET_EVERY == 1 else 0
        sweep = self._rounds % _SWEEP_EVERY == 1  # trim every stream (another group may have acknowledged since)
        calls: list[tuple[list[str], list[Any]]] = []
        served: list[tuple[Partition, list[str]]] = []
        for partition in partitions:
            ready = sorted(partition.state.get("ready", ()))
            if not ready:
                continue
            active: set[str] = partition.state.setdefault("active", set())
            trim = ["1" if sweep or bus in active else "0" for bus in ready]
            active.clear()
            args = [INGEST_GROUP, self.consumer, opts.claim_min_idle_ms, opts.batch_size, forget, *trim]
            calls.append(([self.keys.ingest(bus) for bus in ready], args))
            served.append((partition, ready))
        results = await run_script_many(self.redis, self._maintain, calls)
        for (partition, buses), (streams, _), result in zip(served, calls, results, strict=True):
            if isinstance(result, Exception):
                log.warning("ingest partition %d: maintenance failed: %s", partition.number, result)
                continue
            claimed, missing = result
            if missing:
                partition.state.setdefault("setup", set()).update(buses[int(i) - 1] for i in missing)
                partition.wake.set()
            for index, raw_entries in claimed:
                bus, stream = buses[int(index) - 1], streams[int(index) - 1]
                entries: list[Entry] = [
                    (entry_id, dict(zip(flat[::2], flat[1::2], strict=True)) if flat else None)
                    for entry_id, flat in raw_entries
                ]
                log.info("bus %s: claimed %d abandoned events", bus, len(entries))
                await self._process(bus, stream, entries)

    # one batch ------------------------------------------------------------------------------------------------
    async def _process(self, bus: str, stream: str, entries: Sequence[Entry]) -> None:
        """Route a batch and settle it; while it takes long, keep its entries fresh (`_keep_claimed`), so no
        process (this one included) takes them over as abandoned and routes them a second time."""
        ids: list[Any] = [entry_id for entry_id, _ in entries]
        self._keepers.add(keeper := asyncio.create_task(self._keep_claimed(stream, ids)))
        try:
            await self._route(bus, stream, entries)
        finally:
            keeper.cancel()
            self._keepers.discard(keeper)

    async def _keep_claimed(self, stream: str, ids: list[Any]) -> None:
        """Every third of `claim_min_idle_ms`, reset the entries' idle time (XCLAIM to ourselves, JUSTID)."""
        interval_s = self.options.claim_min_idle_ms / 3000
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.redis.xclaim(stream, INGEST_GROUP, self.consumer, 0, ids, justid=True)
            except (RedisError, OSError) as err:
                log.debug("keeping %d entries of %s claimed failed: %s", len(ids), stream, err)

    async def _route(self, bus: str, stream: str, entries: Sequence[Entry]) -> None:
        compiled = await self.matchers.get(bus)
        if _names_unknown_scheduled_rule(compiled, entries):
            compiled = await self.matchers.reload(bus)  # a scheduled event of a rule this process has not seen yet
        present = [(entry_id, fields) for entry_id, fields in entries if fields is not None]
        events = [fields.get(b"event") for _, fields in present]
        # A scheduled event names its rule (router.schedules): it goes to that rule alone, without matching.
        to_match = [i for i, (_, fields) in enumerate(present) if b"rule" not in fields]
        outcomes: list[list[str] | _Failed] = [_NO_EVENT] * len(present)
        matched = await self._match_all(bus, compiled, [events[i] for i in to_match])
        for i, outcome in zip(to_match, matched, strict=True):
            outcomes[i] = outcome
        for i, (_, fields) in enumerate(present):
            if b"rule" in fields and events[i] is not None:
                outcomes[i] = _scheduled_rule(compiled, fields[b"rule"])
        prepare = getattr(self.sink, "prepare", None)  # a sink that needs I/O first (router.delivery.sink)
        if prepare is not None:  # the targets of the rules matched (not of every rule: a change costs the matched)
            await prepare(bus, compiled, {rule for out in outcomes if isinstance(out, list) for rule in out})
        staged: list[tuple[bytes, Effects]] = []
        parked = 0
        parked_key = self.keys.ingest_parked(bus)
        now_ms = int(time.time() * 1000)
        for (entry_id, fields), event, outcome in zip(present, events, outcomes, strict=True):
            if isinstance(outcome, _Failed):
                reason = PARKED_REASON_MALFORMED if outcome.malformed else PARKED_REASON_INTERNAL
                log.warning("bus %s: event %r parked (%s): %s", bus, entry_id, reason, outcome.error)
                command: list[Any] = ["XADD", parked_key, "*"]
                for name, value in fields.items():
                    command += (name, value)
                command += ("parked_reason", reason, "parked_error", outcome.error[:1000])
                command += ("parked_from", entry_id, "parked_ms", now_ms)
                staged.append((entry_id, Effects(counters=[FIELD_PARKED], commands=[tuple(command)])))
                parked += 1
                continue
            assert event is not None
            effects = Effects(counters=[FIELD_INGESTED], hops=int(fields.get(b"hops") or 0))
            only = fields.get(b"only_rules")  # a replayed event with FilterArns: those rules only (archive/)
            if only is not None and outcome:
                allowed = set(only.decode(errors="replace").split(","))
                outcome = [rule for rule in outcome if rule in allowed]
            if outcome:
                self.sink.stage(bus, entry_id, event, outcome, effects)
            staged.append((entry_id, effects))
        # An entry deleted while pending (fields None) is only acknowledged: there is nothing to route or keep.
        staged += [(entry_id, Effects()) for entry_id, fields in entries if fields is None]
        flush = getattr(self.sink, "flush", None)
        if flush is not None:
            await flush(bus, [effects for _, effects in staged])
        keys, args = _settle_call(stream, self.keys.bus_counters(bus), self.consumer, staged, merge=True)
        settled = await self._settle(keys=keys, args=args)
        if settled == -1:  # some entry is no longer ours: each entry's own commands, as far as it is still ours
            keys, args = _settle_call(stream, self.keys.bus_counters(bus), self.consumer, staged, merge=False)
            settled = await self._settle(keys=keys, args=args)
        partition = self.partitions.get(bus_partition(bus))
        if partition is not None:
            partition.state.setdefault("active", set()).add(bus)  # trimmed in the next maintenance round
        self.processed_events += int(settled)
        self.parked_events += parked

    async def _match_all(
        self, bus: str, compiled: CompiledBus, events: Sequence[bytes | None]
    ) -> list[list[str] | _Failed]:
        """Match every event, in chunks that give the loop a turn; retry internal errors; what still fails is a
        `_Failed` (to be parked)."""
        outcomes = await self._match_chunks(compiled, events)
        for _attempt in range(1, self.options.match_attempts):
            retry = [i for i, o in enumerate(outcomes) if isinstance(o, _Failed) and not o.malformed]
            if not retry:
                break
            log.warning("bus %s: %d events could not be matched; rebuilding the matcher and retrying", bus, len(retry))
            await asyncio.sleep(self.options.match_retry_delay_s)
            compiled = await self.matchers.reload(bus, fresh=True)
            again = await self._match_chunks(compiled, [events[i] for i in retry])
            for i, outcome in zip(retry, again, strict=True):
                outcomes[i] = outcome
        return outcomes

    async def _match_chunks(self, compiled: CompiledBus, events: Sequence[bytes | None]) -> list[list[str] | _Failed]:
        if compiled.machine is None:  # no rule to run: nothing can fail
            no_event = _Failed("the stream entry has no event field", True)
            return [[] if event is not None else no_event for event in events]
        loop = asyncio.get_running_loop()
        out: list[list[str] | _Failed] = []
        start = 0
        total = len(events)
        while start < total:
            end, size = start, 0
            while end < total and end - start < CHUNK_EVENTS:
                event = events[end]
                length = len(event) if event is not None else 0
                if end > start and size + length > CHUNK_BYTES:
                    break
                size += length
                end += 1
            chunk = events[start:end]
            if size > INLINE_MATCH_BYTES:
                out += await loop.run_in_executor(self._threads, _match_chunk, compiled, chunk)
            else:
                out += _match_chunk(compiled, chunk)
                if end < total:
                    await asyncio.sleep(0)
            start = end
        return out


_NO_EVENT = _Failed("the stream entry has no event field", True)


_MERGED_PAIRS = 500
"""Score-member pairs per merged ZADD (so no script call unpacks too many arguments at once)."""


def _settle_call(
    stream: str, counters: str, consumer: str, staged: Sequence[tuple[bytes, Effects]], *, merge: bool
) -> tuple[list[str], list[Any]]:
    """The settle script's keys and arguments for a batch (layout at `_SETTLE`); with `merge`, the entries'
    `ZADD key score member` and `HINCRBY key field n` commands go as merged commands, one per key (and field)."""
    keys: list[str] = [stream, counters]
    index: dict[str, int] = {}
    profiles: dict[tuple[str, ...], int] = {}
    """Counter profile -> its number (each distinct list of fields is sent once)."""
    adds: dict[int, list[Any]] = {}
    """Merged ZADDs: key position -> score, member, ..."""
    increments: dict[tuple[int, Any], int] = {}
    """Merged HINCRBYs: (key position, field) -> the sum."""
    entry_args: list[Any] = []
    for entry_id, effects in staged:
        entry_args.append(entry_id)
        if effects.counters:
            profile = tuple(effects.counters)
            number = profiles.get(profile)
            if number is None:
                number = profiles[profile] = len(profiles) + 1
            entry_args.append(number)
        else:
            entry_args.append(0)
        at = len(entry_args)
        entry_args.append(0)
        own = 0
        for command_args in effects.commands:
            key = str(command_args[1])
            position = index.get(key)
            if position is None:
                keys.append(key)
                position = index[key] = len(keys)
            if merge and len(command_args) == 4:
                name = command_args[0]
                if name == "ZADD":
                    added = adds.get(position)
                    if added is None:
                        added = adds[position] = []
                    added += (command_args[2], command_args[3])
                    continue
                value = command_args[3]
                if name == "HINCRBY" and type(value) is int:
                    field_key = (position, command_args[2])
                    increments[field_key] = increments.get(field_key, 0) + value
                    continue
            own += 1
            entry_args.append(len(command_args))
            entry_args.append(command_args[0])
            entry_args.append(position)
            entry_args.extend(command_args[2:])
        entry_args[at] = own
    args: list[Any] = [INGEST_GROUP, consumer, len(staged), len(profiles)]
    for profile in profiles:
        args.append(len(profile))
        args.extend(profile)
    merged: list[Any] = []
    count = 0
    for position, pairs in adds.items():
        for start in range(0, len(pairs), 2 * _MERGED_PAIRS):
            chunk = pairs[start : start + 2 * _MERGED_PAIRS]
            merged += (2 + len(chunk), "ZADD", position, *chunk)
            count += 1
    for (position, name), value in increments.items():
        merged += (4, "HINCRBY", position, name, value)
        count += 1
    args.append(count)
    args += merged
    args += entry_args
    return keys, args


def _names_unknown_scheduled_rule(compiled: CompiledBus, entries: Sequence[Entry]) -> bool:
    for _, fields in entries:
        named = fields.get(b"rule") if fields else None
        if named is not None and named.decode(errors="replace") not in compiled.scheduled:
            return True
    return False


def _scheduled_rule(compiled: CompiledBus, named: bytes) -> list[str]:
    rule = named.decode(errors="replace")
    return [rule] if rule in compiled.scheduled else []
