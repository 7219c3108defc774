"""Per-bus compiled matchers, kept current with the rules in Redis and swapped whole (copy-on-write).

Each bus's rules are compiled into one `patterns.Machine`, so the per-event cost hardly grows with the rule count.
Every rule or target change increments `sb:{b:N}:bus:B:version` in the same transaction (control plane contract), so
keeping current is cheap: at most every `settings.rules_refresh_interval_s` a process reads that counter, and only
when it moved does it read the rules hash (in the same MULTI, so the version and the rules are one snapshot),
compile a new Machine on the side and replace the reference. Readers hold the old `CompiledBus` until they ask
again; nothing is ever mutated in place.

Only rules whose state is ENABLED (or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS) and that have an EventPattern
are compiled; DISABLED rules and schedule-only rules never match. ENABLED rules with a ScheduleExpression are listed
in `scheduled`: their scheduled events name the rule they are for (router.schedules.scheduled_rules). A stored
pattern that fails to compile (written by an older version, or by hand) is logged and left out; the bus's other
rules still match.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

from router.keys import Keys

log = logging.getLogger("switchboard.matchers")

MATCHING_STATES = frozenset({"ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"})


class MachineLike(Protocol):
    """What the router needs from `patterns.Machine`."""

    def add_rule(self, name: str, pattern: Any) -> None: ...

    def matches_for_event(self, event: str | bytes | dict[str, Any]) -> list[str]: ...


def _default_machine_factory() -> MachineLike:
    import patterns

    machine_class: Callable[[], MachineLike] | None = getattr(patterns, "Machine", None)
    if machine_class is None:
        raise RuntimeError("patterns.Machine is not available: the pattern compiler is not installed")
    return machine_class()


@dataclass(frozen=True, slots=True)
class CompiledBus:
    """One immutable snapshot of a bus's matcher."""

    bus: str
    version: int
    machine: MachineLike | None
    """None when the bus has no matching rule (nothing to run)."""
    rule_names: frozenset[str] = frozenset()
    broken: dict[str, str] = field(default_factory=dict)
    """Rules whose stored pattern failed to compile -> the error text."""
    scheduled: frozenset[str] = frozenset()
    """ENABLED rules with a ScheduleExpression: the targets of their scheduled events (router.schedules), which
    name their rule instead of being matched."""

    def match(self, event: bytes) -> list[str]:
        if self.machine is None:
            return []
        return self.machine.matches_for_event(event)


def compile_rules(
    bus: str,
    version: int,
    records: dict[bytes, bytes] | dict[str, str],
    machine_factory: Callable[[], MachineLike] = _default_machine_factory,
) -> CompiledBus:
    """Build a CompiledBus from the raw rules hash (rule name -> JSON rule record)."""
    selected: list[tuple[str, Any]] = []
    broken: dict[str, str] = {}
    scheduled: set[str] = set()
    for raw_name, raw_record in records.items():
        name = raw_name.decode() if isinstance(raw_name, bytes) else raw_name
        try:
            record = orjson.loads(raw_record)
        except orjson.JSONDecodeError as err:
            broken[name] = f"rule record is not JSON: {err}"
            continue
        if not isinstance(record, dict):
            broken[name] = "rule record is not a JSON object"
            continue
        pattern = record.get("EventPattern")
        enabled = record.get("State", "ENABLED") in MATCHING_STATES
        if enabled and record.get("ScheduleExpression") is not None:
            scheduled.add(name)
        if pattern is None or not enabled:
            continue
        selected.append((name, pattern))
    if not selected:
        return CompiledBus(bus, version, None, frozenset(), broken, frozenset(scheduled))
    machine = machine_factory()
    names: set[str] = set()
    for name, pattern in sorted(selected):
        try:
            machine.add_rule(name, pattern)
        except Exception as err:  # one bad stored pattern must not silence the bus's other rules
            log.warning("bus %s: rule %s has a pattern that does not compile, skipped: %s", bus, name, err)
            broken[name] = str(err)
            continue
        names.add(name)
    return CompiledBus(bus, version, machine if names else None, frozenset(names), broken, frozenset(scheduled))


class MatcherCache:
    """The current CompiledBus of every bus this process routes, refreshed from Redis on version change."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        refresh_interval_s: float,
        machine_factory: Callable[[], MachineLike] = _default_machine_factory,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._refresh_interval_s = refresh_interval_s
        self._machine_factory = machine_factory
        self._compiled: dict[str, CompiledBus] = {}
        self._checked_at: dict[str, float] = {}

    async def get(self, bus: str) -> CompiledBus:
        """The bus's matcher, at most `refresh_interval_s` behind Redis."""
        now = time.monotonic()
        current = self._compiled.get(bus)
        if current is not None and now - self._checked_at.get(bus, 0.0) < self._refresh_interval_s:
            return current
        self._checked_at[bus] = now
        raw_version = await self._redis.get(self._keys.version(bus))
        version = int(raw_version) if raw_version is not None else 0
        if current is not None and current.version == version:
            return current
        return await self.reload(bus)

    async def reload(self, bus: str) -> CompiledBus:
        """Read version and rules as one snapshot, compile on the side, swap the reference."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._keys.version(bus))
            pipe.hgetall(self._keys.rules(bus))
            raw_version, records = await pipe.execute()
        version = int(raw_version) if raw_version is not None else 0
        compiled = compile_rules(bus, version, records, self._machine_factory)
        self._compiled[bus] = compiled
        self._checked_at[bus] = time.monotonic()
        log.debug("bus %s: compiled %d rules at version %d", bus, len(compiled.rule_names), version)
        return compiled

    def forget(self, bus: str) -> None:
        self._compiled.pop(bus, None)
        self._checked_at.pop(bus, None)
