"""`DeliverySink`: the ingest worker's sink that turns each (matched event, rule) into one job per target.

`stage` adds, for every target of every matched rule, one `XADD sb:{bus:B}:deliveries:R:T * ...` (fields in
router.delivery.jobs) to the entry's `Effects`; the ingest worker commits them in the Lua script that acknowledges
the event, so each job exists exactly once, and only once the event is settled. It still counts MatchedEvents and
TriggeredRules (it extends `CountingSink`).

`stage` does no I/O, so the targets come from a per-bus cache that `prepare(bus, compiled)` refreshes before each
batch, whenever the bus's version counter (bumped by every rule and target change) differs from the cached one. A
refresh also adds the bus's job streams to `sb:{bus:B}:delivery-lanes` (idempotent SADD, before any job is staged
into them), which is how delivery workers find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from router.delivery.jobs import delivery_id, event_id_of
from router.ingest import CountingSink, Effects
from router.keys import Keys
from router.matchers import CompiledBus

__all__ = ["DeliverySink"]


@dataclass(frozen=True, slots=True)
class _Target:
    target_id: str
    raw: bytes
    stream: str


@dataclass(frozen=True, slots=True)
class _BusTargets:
    version: int
    rules: dict[str, tuple[_Target, ...]]


class DeliverySink(CountingSink):
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._buses: dict[str, _BusTargets] = {}

    async def prepare(self, bus: str, compiled: CompiledBus) -> None:
        """Make the targets of `compiled`'s rules available to `stage` (reads Redis only when the version moved)."""
        cached = self._buses.get(bus)
        if cached is not None and cached.version == compiled.version:
            return
        rules = sorted(compiled.rule_names)
        async with self.redis.pipeline(transaction=True) as pipe:
            for rule in rules:
                pipe.hgetall(self.keys.targets(bus, rule))
            replies = await pipe.execute() if rules else []
        by_rule: dict[str, tuple[_Target, ...]] = {}
        streams: list[str] = []
        for rule, raw_targets in zip(rules, replies, strict=True):
            targets = []
            for raw_id, raw in sorted(raw_targets.items()):
                target_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                stream = self.keys.deliveries(bus, rule, target_id)
                targets.append(_Target(target_id, raw if isinstance(raw, bytes) else str(raw).encode(), stream))
                streams.append(stream)
            by_rule[rule] = tuple(targets)
        if streams:
            await self.redis.sadd(self.keys.delivery_lanes(bus), *streams)
        self._buses[bus] = _BusTargets(compiled.version, by_rule)

    def stage(self, bus: str, event_id: bytes, event: bytes, rules: Sequence[str], effects: Effects) -> None:
        super().stage(bus, event_id, event, rules, effects)
        cached = self._buses.get(bus)
        if cached is None:
            return
        envelope_id: str | None = None
        ingest_ms = event_id.split(b"-", 1)[0]
        for rule in rules:
            for target in cached.rules.get(rule, ()):
                if envelope_id is None:
                    envelope_id = event_id_of(event)
                effects.commands.append(
                    (
                        "XADD",
                        target.stream,
                        "*",
                        "id",
                        delivery_id(envelope_id, rule, target.target_id),
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
                        effects.hops,
                    )
                )
