"""Per-bus compiled matchers, kept current with the rules in Redis, changed incrementally off the event loop.

Each bus's rules are compiled into one `patterns.Machine`, so the per-event cost hardly grows with the rule count.
Every rule or target change increments `sb:{b:N}:bus:B:version` in the same transaction (control plane contract), so
keeping current is cheap: at most every `settings.rules_refresh_interval_s` a process reads that counter, and only
when it moved does it read the rules hash (in the same MULTI, so the version and the rules are one snapshot).

A change costs in proportion to the change: the bus's `_Builder` keeps the Machine and the raw record of every rule
it holds, diffs the new hash against them (byte comparison; only changed records are parsed) and applies the
deletes and adds to its Machine. That work, and compiling the touched states into a new immutable
`patterns.Snapshot`, runs on one compile thread; the event loop only swaps the finished `CompiledBus` in. Readers
keep the `CompiledBus` they hold (its snapshot never changes; nothing is ever mutated in place); `get` waits a
moment (`swap_wait_s`) for a compile it started, and otherwise answers with the previous version until the new one
is ready.

Only rules whose state is ENABLED (or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS) and that have an EventPattern
are compiled; DISABLED rules and schedule-only rules never match. ENABLED rules with a ScheduleExpression are listed
in `scheduled`: their scheduled events name the rule they are for (router.schedules.scheduled_rules). A stored
pattern that fails to compile (written by an older version, or by hand) is logged and left out; the bus's other
rules still match, and the Machine keeps no trace of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

from router.keys import Keys

log = logging.getLogger("switchboard.matchers")

MATCHING_STATES = frozenset({"ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"})
SWAP_WAIT_S = 0.05
"""How long `MatcherCache.get` waits for a compile it started before answering with the previous version."""


class Matcher(Protocol):
    """What a CompiledBus matches with (`patterns.Snapshot`)."""

    def matches_for_event(self, event: str | bytes | dict[str, Any]) -> list[str]: ...


class MachineLike(Protocol):
    """What the router needs from `patterns.Machine`: incremental changes, and an immutable snapshot to match."""

    def add_rule(self, name: str, pattern: Any) -> None: ...

    def delete_rule(self, name: str) -> bool: ...

    def snapshot(self, *, specialise: bool = False) -> Matcher: ...


def _default_machine_factory() -> MachineLike:
    import patterns

    return patterns.Machine()


@dataclass(frozen=True, slots=True)
class CompiledBus:
    """One immutable snapshot of a bus's matcher."""

    bus: str
    version: int
    machine: Matcher | None
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


class _Builder:
    """The mutable side of one bus's matcher: the Machine the compile thread changes, and what it holds.

    Only one thread at a time may call `apply` (MatcherCache runs every build on its single compile thread).
    """

    def __init__(self, bus: str, machine_factory: Callable[[], MachineLike]) -> None:
        self.bus = bus
        self.machine = machine_factory()
        self.version = -1
        self.records: dict[bytes, bytes] = {}
        """Every rule's raw record as last applied, by the rule's name as bytes."""
        self.in_machine: set[str] = set()
        self.broken: dict[str, str] = {}
        self.scheduled: set[str] = set()
        self.compiled: CompiledBus | None = None

    def apply(self, version: int, raw_records: Mapping[bytes, bytes] | Mapping[str, str]) -> CompiledBus:
        """Bring the Machine to the rules hash read at `version` (an older read than the last one changes nothing),
        touching only the rules whose record changed, and compile a new snapshot."""
        if self.compiled is not None and version < self.version:
            return self.compiled
        records = _as_bytes(raw_records)
        previous = self.records
        changed = [name for name, raw in records.items() if previous.get(name) != raw]
        gone = [name for name in previous if name not in records]
        for name in gone:
            self._drop(name.decode())
        for name in sorted(changed):
            self._drop(name.decode())
            self._add(name.decode(), records[name])
        self.records = records
        self.version = version
        if self.compiled is None or changed or gone or version != self.compiled.version:
            machine = self.compiled.machine if self.compiled is not None and not changed and not gone else None
            if machine is None and self.in_machine:
                machine = self.machine.snapshot(specialise=True)
            self.compiled = CompiledBus(
                self.bus,
                version,
                machine,
                frozenset(self.in_machine),
                dict(self.broken),
                frozenset(self.scheduled),
            )
        return self.compiled

    def _drop(self, name: str) -> None:
        if name in self.in_machine:
            self.machine.delete_rule(name)
            self.in_machine.discard(name)
        self.broken.pop(name, None)
        self.scheduled.discard(name)

    def _add(self, name: str, raw: bytes) -> None:
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            self.broken[name] = f"rule record is not JSON: {err}"
            return
        if not isinstance(record, dict):
            self.broken[name] = "rule record is not a JSON object"
            return
        pattern = record.get("EventPattern")
        enabled = record.get("State", "ENABLED") in MATCHING_STATES
        if enabled and record.get("ScheduleExpression") is not None:
            self.scheduled.add(name)
        if pattern is None or not enabled:
            return
        try:
            self.machine.add_rule(name, pattern)
        except Exception as err:  # one bad stored pattern must not silence the bus's other rules
            log.warning("bus %s: rule %s has a pattern that does not compile, skipped: %s", self.bus, name, err)
            self.broken[name] = str(err)
            return
        self.in_machine.add(name)


def _as_bytes(records: Mapping[bytes, bytes] | Mapping[str, str]) -> dict[bytes, bytes]:
    """The rules hash with bytes names and records (as redis-py returns it; copied without conversion then)."""
    first = next(iter(records.items()), (b"", b""))
    if isinstance(first[0], bytes) and isinstance(first[1], bytes):  # one type throughout (a Mapping of either)
        return dict(records)  # type: ignore[arg-type]
    return {_encoded(name): _encoded(raw) for name, raw in records.items()}


def _encoded(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def compile_rules(
    bus: str,
    version: int,
    records: Mapping[bytes, bytes] | Mapping[str, str],
    machine_factory: Callable[[], MachineLike] = _default_machine_factory,
) -> CompiledBus:
    """Build a CompiledBus from the raw rules hash (rule name -> JSON rule record), from scratch."""
    return _Builder(bus, machine_factory).apply(version, records)


class MatcherCache:
    """The current CompiledBus of every bus this process routes, refreshed from Redis on version change.

    Builds run on one compile thread (shared by all buses, so builds of one bus never overlap); `close` stops it.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        refresh_interval_s: float,
        machine_factory: Callable[[], MachineLike] = _default_machine_factory,
        *,
        swap_wait_s: float = SWAP_WAIT_S,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._refresh_interval_s = refresh_interval_s
        self._machine_factory = machine_factory
        self._swap_wait_s = swap_wait_s
        self._compiled: dict[str, CompiledBus] = {}
        self._checked_at: dict[str, float] = {}
        self._builders: dict[str, _Builder] = {}
        self._reloads: dict[str, asyncio.Future[CompiledBus]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    async def get(self, bus: str) -> CompiledBus:
        """The bus's matcher, at most `refresh_interval_s` behind Redis (plus the time a change takes to compile)."""
        now = time.monotonic()
        current = self._compiled.get(bus)
        if current is not None and now - self._checked_at.get(bus, 0.0) < self._refresh_interval_s:
            return current
        self._checked_at[bus] = now
        raw_version = await self._redis.get(self._keys.version(bus))
        version = int(raw_version) if raw_version is not None else 0
        if current is not None and current.version == version:
            return current
        running = self._reloads.get(bus)
        if running is None or running.done():
            running = self._reloads[bus] = asyncio.ensure_future(self.reload(bus))
            running.add_done_callback(_retrieve)
        if current is None:
            return await asyncio.shield(running)
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(running), self._swap_wait_s)
        return current

    async def reload(self, bus: str, *, fresh: bool = False) -> CompiledBus:
        """Read version and rules as one snapshot, apply the change on the compile thread, swap the reference.

        `fresh` builds a new Machine from all the rules instead of changing the one in use (after the matcher
        raised an internal error: whatever state led to it is dropped)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._keys.version(bus))
            pipe.hgetall(self._keys.rules(bus))
            raw_version, records = await pipe.execute()
        version = int(raw_version) if raw_version is not None else 0
        builder = None if fresh else self._builders.get(bus)
        if builder is None:
            builder = self._builders[bus] = _Builder(bus, self._machine_factory)
        started = time.monotonic()
        compiled = await asyncio.get_running_loop().run_in_executor(
            self._compile_thread(), builder.apply, version, records
        )
        if self._builders.get(bus) is not builder:  # forgotten meanwhile
            return compiled
        current = self._compiled.get(bus)
        if current is None or compiled.version >= current.version:
            self._compiled[bus] = compiled
        self._checked_at[bus] = time.monotonic()
        log.debug(
            "bus %s: %d rules at version %d, compiled in %.1f ms",
            bus,
            len(compiled.rule_names),
            version,
            (time.monotonic() - started) * 1000,
        )
        return self._compiled[bus]

    def _compile_thread(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchboard-compile")
            return self._executor

    def forget(self, bus: str) -> None:
        self._compiled.pop(bus, None)
        self._checked_at.pop(bus, None)
        self._builders.pop(bus, None)
        self._reloads.pop(bus, None)

    def close(self) -> None:
        """Stop the compile thread (without waiting: a build in progress finishes on its own)."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _retrieve(future: asyncio.Future[CompiledBus]) -> None:
    """A background reload's error is raised to whoever awaits it; one nobody awaited is only logged."""
    if not future.cancelled() and future.exception() is not None:
        log.debug("background reload failed: %s", future.exception())
