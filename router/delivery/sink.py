"""`DeliverySink`: the ingest worker's sink that turns each (matched event, rule, target) into a delivery.

Two paths, one behaviour:

- **Inline (queue and event-bus targets).** Their delivery is itself a Redis append, so it needs no job round trip.
  `stage` queues it on the entry's `Effects.pending`; `flush`, which the ingest worker awaits after staging a batch
  and *before* the settle script acknowledges it, makes every inline delivery of the batch in one pipelined round
  trip (`XADD` to the queue stream with the stable `delivery_id`; for a bus target, the bus-append script of
  router.backlog, which also bounds the target bus's backlog: an event that does not fit becomes a job, whose
  delivery is retried as THROTTLING). Each success adds the attempt's counters (Invocations, InvocationAttempts,
  SuccessfulInvocationAttempts) to the entry's effects, so they commit with the ack, once; the latency histogram is
  observed as on the job path. A crash before the ack makes the ingest worker process the batch again: duplicates
  with the same delivery id, never a loss (at least once, as the job path).
- **Job (everything else, and every inline delivery that cannot be made cleanly).** One
  `XADD sb:{b:N}:bus:B:deliveries:R:T * ...` (fields in router.delivery.jobs) in the entry's `Effects.commands`,
  committed by the settle script atomically with the ack; router.delivery.worker delivers it with retries and the
  DLQ. An inline delivery falls back to a job when its append fails (that queue's Redis node is down, out of memory,
  the key has the wrong type), when the event is already older than the target's MaximumEventAgeInSeconds, when
  input shaping fails or selects nothing, when a bus target is unknown or missing, or when the hop bound is reached
  (and a bus target of another account is always a job, authorized by its bus's policy, router.delivery.bus_target):
  the job path then gives exactly the outcome, retries, metrics and DLQ message it always gave, and the bus's ingest
  never waits on one bad target.

- **Internal (targets whose ARN is `router.extensions.internal_target_arn(kind, ...)`).** The managed rules of
  schema discovery and archives feed their extension, not a service: `stage` calls the kind's registered
  `InternalTarget` and adds the commands it returns (keys in the bus's slot) to the entry's `Effects.commands`, so
  they commit with the ack. A kind declared as an `InternalBatchTarget` (archives) is called once per batch and
  target instead, from `flush` (before the settle), with all of the batch's events it matched; each event's
  commands go to its own entry's effects all the same. No job, no retries, no delivery metrics; an ARN of an
  unknown kind is a job (and fails as a target that does not exist would).

It still counts MatchedEvents and TriggeredRules (it extends `CountingSink`). `stage` does no I/O: the targets come
from a per-bus cache that `prepare(bus, compiled, rules)` fills before each batch with the targets of the batch's
matched rules it does not hold yet, and empties whenever the bus's version counter (bumped by every rule and target
change) differs from the cached one. So a rule change costs a read of the targets of the rules that match next, not
of every rule on the bus (10,000 rules: 100-370 ms of event-loop CPU per change when every rule was read). A read
also adds those rules' job streams to the partition's lanes set `sb:{b:N}:partition:delivery-lanes` (idempotent
SADD, before any job is staged into them), which is how delivery workers find them (this process's worker at once,
through `on_lanes`).

Every command of `flush` is cluster-safe: the pipeline is not a transaction (redis-py splits it per node) and its
scripts go as `EVAL` with their keys declared, each script's keys in one slot (a queue's stream; a target bus's
`exists` marker and ingest stream).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from router import uuids
from router.arns import Arns
from router.backlog import APPEND_SCRIPT, append_args, append_keys
from router.delivery.bus_target import MAX_BUS_HOPS, cross_account
from router.delivery.jobs import delivery_id, event_id_of
from router.delivery.lanes import shape_input, shapes_input
from router.delivery.queues import queue_name
from router.delivery.retry import RetryPolicy, expired
from router.delivery.transports import service_of
from router.extensions import (
    InternalBatch,
    InternalBatchTarget,
    InternalDelivery,
    InternalTarget,
    internal_target_kind,
)
from router.ingest import OFF_LOOP_BYTES, CountingSink, Effects
from router.keys import Keys
from router.matchers import CompiledBus

__all__ = ["DeliverySink"]

log = logging.getLogger("switchboard.delivery")

_SUCCESS_COUNTERS = ("Invocations", "InvocationAttempts", "SuccessfulInvocationAttempts")

# KEYS: the queue stream. ARGV: sent_ms, group id ('' for none), then per message: message id, delivery id, body.
# Appends the messages in order (fields as router.delivery.queues documents); returns how many. Sent with EVAL (the
# script text is short, and Redis caches it by its SHA), so there is no NOSCRIPT case to handle.
_QUEUE_APPEND = """
local key, sent_ms, group = KEYS[1], ARGV[1], ARGV[2]
for i = 3, #ARGV, 3 do
  if group == '' then
    redis.call('XADD', key, '*', 'message_id', ARGV[i], 'delivery_id', ARGV[i + 1], 'body', ARGV[i + 2],
      'sent_ms', sent_ms)
  else
    redis.call('XADD', key, '*', 'message_id', ARGV[i], 'delivery_id', ARGV[i + 1], 'body', ARGV[i + 2],
      'sent_ms', sent_ms, 'group_id', group)
  end
end
return (#ARGV - 2) / 3
"""


@dataclass(frozen=True, slots=True)
class _Target:
    target_id: str
    raw: bytes
    stream: str
    """The target's job stream."""
    target: dict[str, Any]
    policy: RetryPolicy
    inline_key: str | None
    """Queue targets: the queue stream; bus targets: the target bus's ingest stream; None: job path only."""
    exists_key: str | None
    """Bus targets: the target bus's `exists` marker."""
    group_id: str | None
    shaped: bool
    """The target has Input, InputPath or InputTransformer (else it receives the event as ingested)."""
    counters: tuple[str, ...]
    """The counters hash fields of one successful first attempt (`Invocations:R`, ...)."""
    queue_call: tuple[str, str] | None
    """Queue targets: (queue stream, MessageGroupId or ''), the key of their batch's `_QUEUE_APPEND` call."""
    queue: str | None = None
    """Queue targets: the queue's name."""
    target_bus: str | None = None
    """Bus targets: the target bus's name."""
    internal: tuple[InternalTarget, str] | None = None
    """Per-event internal targets: their kind's handler and the name from the ARN."""
    batched: tuple[InternalBatchTarget, str] | None = None
    """Per-batch internal targets: their kind's handler and the name from the ARN."""
    plain: bool = False
    """A queue target without input shaping: its payload is the event itself, unless the event is too old."""
    max_age_ms: int = 0
    """The RetryPolicy's MaximumEventAgeInSeconds, in ms."""


@dataclass(frozen=True, slots=True)
class _BusTargets:
    version: int
    rules: dict[str, tuple[_Target, ...]]
    """The targets of the rules read at `version` (filled as rules match)."""


_Delivery = tuple[str, _Target, str]
"""One inline delivery of an event: (rule, target, delivery id)."""

_Batched = tuple[_Target, str, bytes, bytes]
"""One event for a per-batch internal target (an item of its entry's `Effects.pending`): (target, rule, entry id,
event)."""


@dataclass(slots=True)
class _Inline:
    """One event's inline deliveries (an entry of its `Effects.pending`): one object per event, not per delivery."""

    event: bytes
    ingest_ms: int
    hops: int
    effects: Effects
    """The event's effects (each delivery's counters or fallback job go there)."""
    deliveries: list[_Delivery]


@dataclass(slots=True)
class _QueueCall:
    """The batch's messages to one queue (and MessageGroupId): one `_QUEUE_APPEND` call."""

    made: list[tuple[_Inline, _Delivery]]
    delivery_ids: list[str]
    bodies: list[bytes]


class DeliverySink(CountingSink):
    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        arns: Arns,
        *,
        clock: Callable[[], float] = time.time,
        observe_start: Callable[[str, str, float, int], None] | None = None,
        inline: bool = True,
        backlog_limit: int = 0,
        internal: Mapping[str, InternalTarget | InternalBatchTarget] | None = None,
    ) -> None:
        self.redis = redis
        self.backlog_limit = backlog_limit
        """Target buses' ingest backlog bound (router.backlog): an inline append that does not fit becomes a job."""
        self._append_sha: str | None = None
        self.keys = keys
        self.arns = arns
        self.clock = clock
        self.observe_start = observe_start
        self.inline = inline
        """False: every delivery takes the job path (for comparisons and tests)."""
        self._buses: dict[str, _BusTargets] = {}
        self.on_lanes: Callable[[str, list[str]], None] | None = None
        """Told (bus, job streams) after the streams were added to the lanes set (router.delivery.worker)."""
        self.internal = dict(internal or {})
        """Internal target kind -> handler (router.extensions)."""

    async def prepare(self, bus: str, compiled: CompiledBus, rules: Collection[str] | None = None) -> None:
        """Make the targets of `rules` (None: all of `compiled`'s rules) available to `stage`: reads Redis only for
        rules not read since the bus's version last moved."""
        cached = self._buses.get(bus)
        if cached is None or cached.version != compiled.version:
            cached = self._buses[bus] = _BusTargets(compiled.version, {})
        wanted = compiled.rule_names | compiled.scheduled if rules is None else rules
        missing = sorted(rule for rule in wanted if rule not in cached.rules)
        if missing:
            await self._read_targets(bus, cached, missing)

    async def _read_targets(self, bus: str, cached: _BusTargets, rules: list[str]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for rule in rules:
                pipe.hgetall(self.keys.targets(bus, rule))
            replies = await pipe.execute()
        by_rule: dict[str, tuple[_Target, ...]] = {}
        streams: list[str] = []
        for rule, raw_targets in zip(rules, replies, strict=True):
            targets = []
            for raw_id, raw in sorted(raw_targets.items()):
                target_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                stream = self.keys.deliveries(bus, rule, target_id)
                raw_bytes = raw if isinstance(raw, bytes) else str(raw).encode()
                made = self._target(bus, rule, target_id, raw_bytes, stream)
                targets.append(made)
                if made.internal is None and made.batched is None:  # internal: no job stream for delivery workers
                    streams.append(stream)
            by_rule[rule] = tuple(targets)
        if streams:
            await self.redis.sadd(self.keys.delivery_lanes(bus), *streams)
            if self.on_lanes is not None:
                self.on_lanes(bus, streams)
        cached.rules.update(by_rule)

    def _target(self, bus: str, rule: str, target_id: str, raw: bytes, stream: str) -> _Target:
        try:
            target = orjson.loads(raw)
            arn = str(target["Arn"])
            policy = RetryPolicy.of(target)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            target, arn, policy = {}, "", RetryPolicy()
        inline_key = exists_key = group_id = name = target_bus = None
        internal = internal_target_kind(arn) if self.internal else None
        if internal is not None and internal[0] in self.internal:
            handler = self.internal[internal[0]]
            per_event = None if isinstance(handler, InternalBatchTarget) else (handler, internal[1])
            return _Target(
                target_id,
                raw,
                stream,
                target,
                policy,
                None,
                None,
                None,
                False,
                (),
                None,
                internal=per_event,
                batched=(handler, internal[1]) if isinstance(handler, InternalBatchTarget) else None,
            )
        service = service_of(arn) if self.inline else ""
        if service == "queue":
            name = queue_name(arn)
            if name is not None:
                inline_key = self.keys.queue(name)
                group = (target.get("SqsParameters") or {}).get("MessageGroupId")
                group_id = str(group) if group else None
        elif service == "bus" and not cross_account(self.keys, bus, arn):  # another account's: authorized per job
            target_bus = self.keys.bus_of_arn(arn)  # any region's bus of the account (router.namespace)
            if target_bus is not None:
                inline_key, exists_key = self.keys.ingest(target_bus), self.keys.bus_exists(target_bus)
        counters = tuple(f"{name}:{rule}" for name in _SUCCESS_COUNTERS)
        shaped = shapes_input(target)
        queue_call = (inline_key, group_id or "") if inline_key is not None and exists_key is None else None
        return _Target(
            target_id,
            raw,
            stream,
            target,
            policy,
            inline_key,
            exists_key,
            group_id,
            shaped,
            counters,
            queue_call,
            name,
            target_bus,
            plain=queue_call is not None and not shaped,
            max_age_ms=policy.max_event_age_s * 1000,
        )

    def stage(self, bus: str, event_id: bytes, event: bytes, rules: Sequence[str], effects: Effects) -> None:
        super().stage(bus, event_id, event, rules, effects)
        cached = self._buses.get(bus)
        if cached is None:
            return
        envelope_id: str | None = None
        ingest_ms = event_id.split(b"-", 1)[0]
        inline: _Inline | None = None
        for rule in rules:
            for target in cached.rules.get(rule, ()):
                if target.batched is not None:  # handed over with the whole batch in `flush`
                    effects.pending.append((target, rule, event_id, event))
                    continue
                if target.internal is not None:  # needs no delivery id
                    handler, name = target.internal
                    delivery = InternalDelivery(bus, rule, target.target, name, event, self.keys, event_id)
                    effects.commands.extend(handler(delivery))
                    continue
                if envelope_id is None:
                    envelope_id = event_id_of(event)
                did = delivery_id(envelope_id, rule, target.target_id)
                if target.inline_key is not None:
                    if inline is None:
                        inline = _Inline(event, int(ingest_ms), effects.hops, effects, [])
                        effects.pending.append(inline)
                    inline.deliveries.append((rule, target, did))
                else:
                    effects.commands.append(_job(target, did, event, rule, ingest_ms=ingest_ms, hops=effects.hops))

    async def flush(self, bus: str, batch: Sequence[Effects]) -> None:
        """Make the batch's inline deliveries (one pipelined round trip); what cannot be made becomes a job.

        A queue's messages of the batch go in one `EVAL` of `_QUEUE_APPEND` (one command and one reply per queue and
        MessageGroupId instead of one `XADD` each), in the batch's order; a bus target's append is one script call
        per delivery. Before them, each per-batch internal target gets its events of the batch (`_internal`)."""
        inlines: list[_Inline] = []
        batched: list[tuple[Effects, _Batched]] = []
        for effects in batch:
            for item in effects.pending:
                if type(item) is _Inline:
                    inlines.append(item)
                else:
                    batched.append((effects, item))
        if batched:
            self._internal(bus, batched)
        if not inlines:
            for effects in batch:
                effects.pending.clear()
            return
        now_ms = int(self.clock() * 1000)
        sent_ms = str(int(time.time() * 1000))
        calls: list[list[tuple[_Inline, _Delivery]]] = []
        """What each pipelined command delivers, in pipeline order: one item per bus-target call first, then a
        queue's items per queue call."""
        queue_calls: dict[tuple[str, str], _QueueCall] = {}
        # The payloads of shaped and bus deliveries (a plain queue delivery's is its event), in delivery order.
        shaped = [(inline, delivery) for inline in inlines for delivery in inline.deliveries if not delivery[1].plain]
        shaped_payloads = iter(await self._payloads(bus, shaped, now_ms) if shaped else ())
        async with self.redis.pipeline(transaction=False) as pipe:
            for inline in inlines:
                event = inline.event
                age_ms = now_ms - inline.ingest_ms
                for delivery in inline.deliveries:
                    target = delivery[1]
                    if target.plain:
                        payload: bytes | None = event if age_ms <= target.max_age_ms else None
                    else:
                        payload = next(shaped_payloads)
                    if payload is None:
                        inline.effects.commands.append(_fallback(inline, delivery))
                        continue
                    if target.target_bus is not None:  # an event bus
                        bus_keys = append_keys(self.keys, target.target_bus)
                        bus_args = append_args(self.backlog_limit, [(event, inline.hops + 1)])
                        sha = await self._append_script()
                        pipe.execute_command("EVALSHA", sha, len(bus_keys), *bus_keys, *bus_args)
                        calls.append([(inline, delivery)])
                        continue
                    queue_call = target.queue_call
                    assert queue_call is not None  # an inline target that is not a bus is a queue
                    queued = queue_calls.get(queue_call)
                    if queued is None:
                        queued = queue_calls[queue_call] = _QueueCall([], [], [])
                    queued.made.append((inline, delivery))
                    queued.delivery_ids.append(delivery[2])
                    queued.bodies.append(payload)
            if queue_calls:
                ids = uuids.take(sum(len(queued.made) for queued in queue_calls.values()))
                used = 0
                for (queue_key, group_id), queued in queue_calls.items():
                    calls.append(queued.made)
                    count = len(queued.made)
                    messages: list[Any] = [None] * (3 * count)  # (message id, delivery id, body) per message
                    messages[0::3] = ids[used : used + count]
                    messages[1::3] = queued.delivery_ids
                    messages[2::3] = queued.bodies
                    used += count
                    pipe.execute_command("EVAL", _QUEUE_APPEND, 1, queue_key, sent_ms, group_id, *messages)
                # the queues are listed by SQS's ListQueues (router.sqs), also those a delivery creates; the reply
                # (its last) is not a delivery's
                names = {queued.made[0][1][1].queue or "": 0.0 for queued in queue_calls.values()}
                pipe.zadd(self.keys.queues, names, nx=True)
            results: list[Any]
            try:
                results = (await pipe.execute(raise_on_error=False))[: len(calls)] if calls else []
            except (RedisError, OSError) as err:
                log.warning("bus %s: inline deliveries failed, staging them as jobs: %s", bus, err)
                results = [err] * len(calls)
        observe = self.observe_start  # observed once per delivery: a fallback job's lane observes its own start
        started: dict[tuple[str, int], int] = {}
        """(rule, ingest ms) -> deliveries made: a request's events share their ingest ms, and each rule's targets
        their start, so the histogram's series is looked up once per group, not once per delivery."""
        for delivered, result in zip(calls, results, strict=True):
            failed = isinstance(result, BaseException) or result is None or result == []  # [] : throttled
            if isinstance(result, NoScriptError):
                self._append_sha = None  # a node lost its scripts (restart, failover): load it again next time
            if failed:
                for inline, delivery in delivered:  # the job path retries it, or reports it (NO_RESOURCE)
                    inline.effects.commands.append(_fallback(inline, delivery))
                continue
            for inline, (rule, target, _) in delivered:
                inline.effects.counters += target.counters
                group = (rule, inline.ingest_ms)
                started[group] = started.get(group, 0) + 1
        if observe is not None:
            for (rule, ingest_ms), count in started.items():
                observe(bus, rule, max(now_ms - ingest_ms, 0) / 1000, count)
        for effects in batch:
            effects.pending.clear()

    def _internal(self, bus: str, items: list[tuple[Effects, _Batched]]) -> None:
        """Call each per-batch internal target once with its events of the batch; each event's commands go to its
        entry's effects (so they commit with its ack, or not at all)."""
        groups: dict[tuple[str, str], tuple[_Target, list[Effects], list[bytes], list[bytes]]] = {}
        for effects, (target, rule, entry_id, event) in items:
            group = groups.get((rule, target.target_id))
            if group is None:
                group = groups[(rule, target.target_id)] = (target, [], [], [])
            group[1].append(effects)
            group[2].append(entry_id)
            group[3].append(event)
        for (rule, _), (target, owners, entry_ids, events) in groups.items():
            assert target.batched is not None
            handler, name = target.batched
            made = handler.handler(InternalBatch(bus, rule, target.target, name, self.keys, entry_ids, events))
            for effects, commands in zip(owners, made, strict=True):
                effects.commands.extend(commands)

    async def _append_script(self) -> str:
        """The SHA of router.backlog's append script, loaded on every node (once; again after a NOSCRIPT)."""
        if self._append_sha is None:
            self._append_sha = str(await self.redis.script_load(APPEND_SCRIPT))
        return self._append_sha

    async def _payloads(self, bus: str, items: list[tuple[_Inline, _Delivery]], now_ms: int) -> list[bytes | None]:
        """Each delivery's payload; the shaping of big events runs in a worker thread (never long on the event
        loop)."""
        big = sum(len(inline.event) for inline, delivery in items if delivery[1].shaped)
        if big > OFF_LOOP_BYTES:
            return await asyncio.to_thread(lambda: [self._payload(bus, *item, now_ms) for item in items])
        return [self._payload(bus, *item, now_ms) for item in items]

    def _payload(self, bus: str, inline: _Inline, delivery: _Delivery, now_ms: int) -> bytes | None:
        """What to append for an inline delivery; None when the job path must decide its outcome."""
        rule, target, _ = delivery
        if expired(inline.ingest_ms, now_ms, target.policy):
            return None
        if target.exists_key is not None:
            if inline.hops >= MAX_BUS_HOPS:
                return None  # LOOP_DETECTED, reported by the job path
            return inline.event
        if not target.shaped:
            return inline.event
        try:
            return shape_input(target.target, inline.event, self.keys.rule_arn(bus, rule), rule, inline.ingest_ms)
        except Exception:  # INPUT_ERROR, reported (and sent to the DLQ) by the job path
            return None


def _job(target: _Target, did: str, event: bytes, rule: str, *, ingest_ms: bytes | int, hops: int) -> tuple[Any, ...]:
    return (
        "XADD",
        target.stream,
        "*",
        "id",
        did,
        "event",
        event,
        "rule",
        rule,
        "target",
        target.raw,
        "ingest_ms",
        ingest_ms,
        "attempts",
        0,
        "hops",
        hops,
    )


def _fallback(inline: _Inline, delivery: _Delivery) -> tuple[Any, ...]:
    rule, target, did = delivery
    return _job(target, did, inline.event, rule, ingest_ms=inline.ingest_ms, hops=inline.hops)
