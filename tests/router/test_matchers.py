"""`router.matchers`: what a bus's compiled matcher does with hostile stored patterns, and how it changes.

A pattern PutRule would refuse can still reach the rules hash (written by an older version, or by hand). It must be
left out with its error while the bus's other rules keep matching, and a pattern PutRule accepts must never make
matching raise.

A rule change costs in proportion to the change (only changed records reach the Machine) and never holds the event
loop (the integration test at the end: 10,000 rules built and changed while `LoopProbe` watches the loop's CPU).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

import patterns
from patterns.parser import MAX_STATES_PER_RULE
from router.keys import Keys
from router.matchers import MatcherCache, _Builder, compile_rules
from tests.router.test_loop_lag import LOOP_CPU_BOUND_S, LoopProbe
from tests.waiting import eventually

BUS = "default"
KEYS = Keys()


def _record(name: str, pattern: str) -> bytes:
    return orjson.dumps({"Name": name, "EventPattern": pattern, "State": "ENABLED"})


def _event(**detail: object) -> bytes:
    return orjson.dumps({"source": "orders", "detail-type": "t", "detail": detail})


def test_a_pattern_with_a_600_segment_field_name_matches_beside_other_rules() -> None:
    deep = ".".join(["a"] * 600)
    records = {
        b"orders": _record("orders", '{"source": ["orders"]}'),
        b"deep": _record("deep", json.dumps({"detail": {deep: ["x"]}})),
    }
    compiled = compile_rules(BUS, 1, records)
    assert compiled.broken == {}
    for _ in range(20):  # past the specialisation warm-up too
        assert compiled.match(_event(**{deep: "x"})) == ["deep", "orders"]
        assert compiled.match(_event(other=1)) == ["orders"]


def test_a_stored_pattern_beyond_the_bounds_is_left_out_and_the_others_match() -> None:
    branches = [{f"b{i}": [1]} for i in range(60)]
    big = json.dumps({"x": {"$or": branches}, **{f"z{i:03d}": [1] for i in range(200)}})
    records = {b"orders": _record("orders", '{"source": ["orders"]}'), b"big": _record("big", big)}
    compiled = compile_rules(BUS, 3, records)
    assert set(compiled.rule_names) == {"orders"}
    assert f"more than {MAX_STATES_PER_RULE} matcher states" in compiled.broken["big"]
    assert compiled.match(_event()) == ["orders"]


class CountingMachine(patterns.Machine):
    """A real Machine that counts the rule changes applied to it (class-wide, across the cache's builders)."""

    added = 0
    deleted = 0

    def add_rule(self, name: str, pattern: str | bytes | dict[str, Any]) -> None:
        CountingMachine.added += 1
        super().add_rule(name, pattern)

    def delete_rule(self, name: str) -> bool:
        CountingMachine.deleted += 1
        return super().delete_rule(name)


@pytest.fixture
def counting() -> type[CountingMachine]:
    CountingMachine.added = CountingMachine.deleted = 0
    return CountingMachine


def _rules(count: int) -> dict[bytes, bytes]:
    return {f"r{i}".encode(): _record(f"r{i}", json.dumps({"source": [f"app-{i}"]})) for i in range(count)}


def _app(i: int) -> bytes:
    return orjson.dumps({"source": f"app-{i}", "detail-type": "t", "detail": {}})


def test_a_rule_change_touches_only_the_changed_rules_and_old_snapshots_stay_as_they_were(
    counting: type[CountingMachine],
) -> None:
    builder = _Builder(BUS, counting)
    records = _rules(1000)
    first = builder.apply(1, records)
    assert (counting.added, counting.deleted) == (1000, 0)
    changed = dict(records)
    changed[b"r5"] = _record("r5", '{"source": ["moved"]}')  # changed
    del changed[b"r6"]  # deleted
    changed[b"new"] = _record("new", '{"source": ["app-7"]}')  # added
    changed[b"off"] = orjson.dumps({"Name": "off", "EventPattern": '{"source": ["x"]}', "State": "DISABLED"})
    second = builder.apply(2, changed)
    assert (counting.added, counting.deleted) == (1002, 2)  # r5 and new added; r5 and r6 deleted
    assert second.rule_names == first.rule_names - {"r6"} | {"new"}
    moved = orjson.dumps({"source": "moved", "detail-type": "t", "detail": {}})
    assert (second.match(_app(5)), second.match(_app(6)), second.match(_app(7)), second.match(moved)) == (
        [],
        [],
        ["new", "r7"],
        ["r5"],
    )
    # The first version keeps answering as it did: nothing it holds was changed in place.
    assert (first.match(_app(5)), first.match(_app(6)), first.match(_app(7)), first.match(moved)) == (
        ["r5"],
        ["r6"],
        ["r7"],
        [],
    )
    # An older read than the last one applied changes nothing; the same hash again compiles nothing.
    assert builder.apply(1, records) is second
    assert builder.apply(2, changed) is second
    assert (counting.added, counting.deleted) == (1002, 2)


def test_compile_rules_from_scratch_equals_the_incremental_result() -> None:
    records = _rules(50)
    builder = _Builder(BUS, patterns.Machine)
    builder.apply(1, {k: v for k, v in records.items() if k != b"r3"})
    incremental = builder.apply(2, records)
    scratch = compile_rules(BUS, 2, records)
    assert incremental.rule_names == scratch.rule_names
    for i in range(50):
        assert incremental.match(_app(i)) == scratch.match(_app(i)) == [f"r{i}"]


@pytest.mark.integration
async def test_rule_changes_on_a_bus_of_10_000_rules_never_hold_the_event_loop(
    redis_client: aioredis.Redis, counting: type[CountingMachine]
) -> None:
    """Issue 7 item 4: building 10,000 rules and changing them runs on the compile thread; the loop only swaps."""
    count = 10_000
    await redis_client.hset(KEYS.rules(BUS), mapping=_rules(count))  # type: ignore[arg-type]
    await redis_client.set(KEYS.version(BUS), 1)
    cache = MatcherCache(redis_client, KEYS, 0.0, machine_factory=counting)
    try:
        async with LoopProbe() as probe:
            compiled = await cache.get(BUS)
            assert len(compiled.rule_names) == count
            for change in range(1, 5):
                name = f"r{change}"
                pattern = json.dumps({"source": [f"changed-{change}"]})
                await redis_client.hset(KEYS.rules(BUS), name, _record(name, pattern))
                version = await redis_client.incr(KEYS.version(BUS))

                async def swapped(version: int = version) -> bool:
                    return (await cache.get(BUS)).version == version

                await eventually(swapped, timeout_s=30, what=f"version {version} compiled")
        latest = await cache.get(BUS)
    finally:
        cache.close()
    assert probe.ticks > 10
    assert probe.max_cpu_s < LOOP_CPU_BOUND_S, (probe.max_cpu_s, probe.max_gap_s)
    assert (counting.added, counting.deleted) == (count + 4, 4)  # each change re-added its one rule
    changed = orjson.dumps({"source": "changed-3", "detail-type": "t", "detail": {}})
    assert (latest.match(changed), latest.match(_app(3)), latest.match(_app(9999))) == (["r3"], [], ["r9999"])
