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
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson
import redis.asyncio as aioredis

from router.keys import Keys
from router.store.scripts import RULES_SINCE

log = logging.getLogger("switchboard.matchers")

MATCHING_STATES = frozenset({"ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"})
SWAP_WAIT_S = 0.05
"""How long `MatcherCache.get` waits for a compile it started before answering with the previous version."""
HEAP_GROWTH = 2.0
"""How much the frozen heap may grow (with no more rules) before `HeapPolicy` collects it in full once."""
FULL_COLLECTIONS_HELD = 1 << 30
"""The collector's third threshold while a build runs: automatic full collections never come (`HeapPolicy`)."""
YOUNG_THRESHOLD = 20_000
"""The collector's first threshold once a process serves (CPython's default: 700). A request allocates dozens of
container objects and frees nearly all of them by reference counting, so at 700 the young generation was collected
every few requests, each collection traversing whatever requests were in flight: about 3% of the accepting CPU
(PutEvents, scale bench). At 20,000 the young collections are ~30x rarer, each still bounded (tens of thousands
of objects, well under a millisecond)."""
_T = TypeVar("_T")


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
            self._compile(version, bool(changed or gone))
        assert self.compiled is not None
        return self.compiled

    def apply_changes(self, version: int, changes: Mapping[bytes, bytes | None], count: int) -> CompiledBus | None:
        """Bring the Machine from its version to `version` given the rules changed in between (None: deleted) and
        the rule count at `version`; None when the result would not hold `count` rules (the hash was written
        without the change feed, by hand or by an older version): the caller then reads the whole hash."""
        if self.compiled is None:
            return None
        if version < self.version:
            return self.compiled
        records = self.records
        touched = False
        for name in sorted(changes):
            raw = changes[name]
            if records.get(name) == raw:
                continue
            touched = True
            self._drop(name.decode())
            if raw is None:
                del records[name]
            else:
                records[name] = raw
                self._add(name.decode(), raw)
        if len(records) != count:
            return None
        self.version = version
        if touched or version != self.compiled.version:
            self._compile(version, touched)
        return self.compiled

    def _compile(self, version: int, touched: bool) -> None:
        machine = None if touched or self.compiled is None else self.compiled.machine
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


def _encoded_or_none(value: bytes | str | None) -> bytes | None:
    return None if value is None else _encoded(value)


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
        self._rules_since = redis.register_script(RULES_SINCE)
        self._rule_count = 0
        """Rules compiled in `_compiled` over all buses (for `HeapPolicy`)."""

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
        builder = None if fresh else self._builders.get(bus)
        if builder is None:
            builder = self._builders[bus] = _Builder(bus, self._machine_factory)
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        since = builder.version if builder.compiled is not None else -1
        version, count, everything, records = await self._read_since(bus, since)
        compiled: CompiledBus | None = None
        building = HEAP.building
        if not everything:
            compiled = await loop.run_in_executor(
                self._compile_thread(), building, builder.apply_changes, version, records, count
            )
        if compiled is None:
            if not everything:  # out of step with the change feed: read the whole hash
                log.info("bus %s: the rules hash does not match its change feed; reading it whole", bus)
                version, count, everything, records = await self._read_since(bus, -1)
            whole = {name: raw for name, raw in records.items() if raw is not None}
            compiled = await loop.run_in_executor(self._compile_thread(), building, builder.apply, version, whole)
        if self._builders.get(bus) is not builder:  # forgotten meanwhile
            return compiled
        current = self._compiled.get(bus)
        if current is None or compiled.version >= current.version:
            self._compiled[bus] = compiled
            if compiled is not current:
                self._rule_count += len(compiled.rule_names) - (len(current.rule_names) if current else 0)
                HEAP.settle(self._rule_count)
        self._checked_at[bus] = time.monotonic()
        log.debug(
            "bus %s: %d rules at version %d, compiled in %.1f ms",
            bus,
            len(compiled.rule_names),
            version,
            (time.monotonic() - started) * 1000,
        )
        return self._compiled[bus]

    async def _read_since(self, bus: str, since: int) -> tuple[int, int, bool, dict[bytes, bytes | None]]:
        """(version, rule count, whether `records` is the whole hash, records by name): the rules changed since
        version `since` (a deleted rule's record is None), or the whole hash when `since` is -1 or older than the
        change feed's floor. One script, so the version and the records are one snapshot."""
        keys = self._keys
        reply = await self._rules_since(keys=[keys.version(bus), keys.rule_changes(bus), keys.rules(bus)], args=[since])
        version, count, mode = int(reply[0]), int(reply[1]), _encoded(reply[2])
        items = reply[3:]
        records = {_encoded(items[i]): _encoded_or_none(items[i + 1]) for i in range(0, len(items), 2)}
        return version, count, mode == b"all", records

    def _compile_thread(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchboard-compile")
            return self._executor

    def forget(self, bus: str) -> None:
        forgotten = self._compiled.pop(bus, None)
        if forgotten is not None:
            self._rule_count -= len(forgotten.rule_names)
        self._checked_at.pop(bus, None)
        self._builders.pop(bus, None)
        self._reloads.pop(bus, None)

    def close(self) -> None:
        """Stop the compile thread (without waiting: a build in progress finishes on its own)."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


class HeapPolicy:
    """The router's garbage-collector policy: compiled rules live outside the cyclic collector's reach.

    CPython's full (generation 2) collection traverses every container object the process tracks, holding the GIL:
    at 10,000 compiled rules that is ~300,000 objects and 150-250 ms, and the allocation of rule changes triggers
    one every few seconds, so the event loop stalled for that long (issue 7, item 4). Compiled state is acyclic
    (`patterns.machine`: a replaced snapshot, its indexes and its generated code are freed by reference counting),
    so it needs no cyclic collection at all. Three steps keep it out of the collector's way:

    - `building` wraps every build on the compile thread: while one runs, automatic full collections wait (the
      young generations are still collected), so a big build never has the collector traverse its half-built
      state again and again (the first build of a bus of 10,000 rules triggered several, up to ~450 ms each),
      and what it built is frozen before they may come again;
    - `settle`, after each compiled swap, collects the young generations (a cost bounded by the collector's
      thresholds, whatever the heap) and freezes everything (`gc.freeze`): from then on collections traverse only
      newer objects, and a replaced snapshot is still freed, by reference counting;
    - `started`, once before a process serves, collects its start-up heap in full and freezes it, and raises the
      young generation's threshold to `YOUNG_THRESHOLD`.

    Freezing also takes in whatever else is alive at that moment (requests in flight). Should such an object later
    become cyclic garbage it would stay, so the heap is watched: when it has grown to `growth` times its size
    after the last full collection (in allocated blocks, `sys.getallocatedblocks`: tens of microseconds) while the
    compiled rules did not grow (growth that more rules explain raises the mark instead), it is unfrozen and
    collected in full once: one pause as long as before the policy, after the heap doubled, never from rule
    changes alone.
    """

    def __init__(self, growth: float = HEAP_GROWTH) -> None:
        self.growth = growth
        self.baseline = 0
        """The heap (`sys.getallocatedblocks`) after the last full collection, or after the compiled rules last
        grew (0: none yet)."""
        self.rules = 0
        """Compiled rules at `baseline`."""
        self.full_collections = 0
        self._lock = threading.Lock()
        self._builds = 0
        self._threshold: tuple[int, int, int] | None = None

    def started(self) -> None:
        """The process's start-up is over (before it serves): collect its heap in full once and freeze it; young
        collections from now on every `YOUNG_THRESHOLD` net allocations."""
        with self._lock:
            gc.collect()
            gc.freeze()
            young, middle, full = gc.get_threshold()
            gc.set_threshold(max(YOUNG_THRESHOLD, young), middle, full)
            self.baseline = sys.getallocatedblocks()

    def building(self, build: Callable[..., _T], *args: Any) -> _T:
        """`build(*args)` with automatic full collections held back meanwhile (nested and concurrent calls too)."""
        with self._lock:
            if self._builds == 0:
                self._threshold = gc.get_threshold()
                gc.set_threshold(self._threshold[0], self._threshold[1], FULL_COLLECTIONS_HELD)
            self._builds += 1
        try:
            return build(*args)
        finally:
            with self._lock:
                self._builds -= 1
                if self._builds == 0 and self._threshold is not None:
                    # Frozen before full collections may come again: else the first one, before the swap's
                    # `settle` runs, would traverse everything the build made.
                    gc.collect(1)
                    gc.freeze()
                    gc.set_threshold(*self._threshold)
                    self._threshold = None

    def settle(self, rules: int) -> None:
        """After a compiled swap (`rules`: how many rules the process has compiled now): collect the young
        generations, freeze, and collect in full if the frozen heap outgrew its mark (see the class)."""
        with self._lock:
            gc.collect(1)  # the young generations only: bounded by the thresholds, not by the heap
            gc.freeze()
            heap = sys.getallocatedblocks()  # (gc.get_freeze_count() walks every frozen object: 40-80 ms here)
            if not self.baseline or rules > self.rules:
                self.baseline, self.rules = max(self.baseline, heap), max(self.rules, rules)
                return
            if heap <= self.growth * self.baseline:
                return
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.full_collections += 1
            self.baseline, self.rules = sys.getallocatedblocks(), rules
            log.info("heap: outgrew its mark with no more rules; collected in full (%d blocks now)", self.baseline)


HEAP = HeapPolicy()
"""The process's policy (the GC is per process)."""


def _retrieve(future: asyncio.Future[CompiledBus]) -> None:
    """A background reload's error is raised to whoever awaits it; one nobody awaited is only logged."""
    if not future.cancelled() and future.exception() is not None:
        log.debug("background reload failed: %s", future.exception())
