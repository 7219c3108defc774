"""`router.matchers`: what a bus's compiled matcher does with hostile stored patterns, and how it changes.

A pattern PutRule would refuse can still reach the rules hash (written by an older version, or by hand). It must be
left out with its error while the bus's other rules keep matching, and a pattern PutRule accepts must never make
matching raise.

A rule change costs in proportion to the change (only changed records reach the Machine) and never holds the event
loop (the integration test at the end: 10,000 rules built and changed while `LoopProbe` watches the loop's CPU).
"""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

import patterns
from patterns.parser import MAX_STATES_PER_RULE
from router.keys import Keys
from router.matchers import FULL_COLLECTIONS_HELD, YOUNG_THRESHOLD, HeapPolicy, MatcherCache, _Builder, compile_rules
from router.store.rules import RedisRuleStore
from router.store.scripts import RULE_CHANGES_SLACK
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
    store = await _bus_with_rules(redis_client, count)
    cache = MatcherCache(redis_client, KEYS, 0.0, machine_factory=counting)
    try:
        async with LoopProbe() as probe:
            compiled = await cache.get(BUS)
            assert len(compiled.rule_names) == count
            for change in range(1, 5):
                name = f"r{change}"
                pattern = json.dumps({"source": [f"changed-{change}"]})
                await _put(store, name, pattern)
                version = int(await redis_client.get(KEYS.version(BUS)) or 0)

                async def swapped(version: int = version) -> bool:
                    return (await cache.get(BUS)).version == version

                await eventually(swapped, timeout_s=30, what=f"version {version} compiled")
            # What a full collection would traverse now (the frozen heap aside): not the compiled 10,000 rules.
            tracked = len(gc.get_objects())
        latest = await cache.get(BUS)
    finally:
        cache.close()
    assert probe.ticks > 10
    assert probe.max_cpu_s < LOOP_CPU_BOUND_S, (probe.max_cpu_s, probe.max_gap_s)
    assert tracked < count // 2, tracked  # ~15 after the fix; every compiled object (~300,000) before it
    assert (counting.added, counting.deleted) == (count + 4, 4)  # each change re-added its one rule
    changed = orjson.dumps({"source": "changed-3", "detail-type": "t", "detail": {}})
    assert (latest.match(changed), latest.match(_app(3)), latest.match(_app(9999))) == (["r3"], [], ["r9999"])


async def _bus_with_rules(redis: aioredis.Redis, count: int) -> RedisRuleStore:
    """A bus of `count` rules written at once (as a config load or an older version leaves them), and the store
    that changes them from then on as the control plane does (RULE_CAS: the hash, the version, the change feed)."""
    await redis.set(KEYS.bus_exists(BUS), 1)
    if count:
        await redis.hset(KEYS.rules(BUS), mapping=_rules(count))  # type: ignore[arg-type]
    await redis.set(KEYS.version(BUS), 1)
    return RedisRuleStore(redis, KEYS)


async def _put(store: RedisRuleStore, name: str, pattern: str) -> None:
    await store.update(BUS, name, lambda _: orjson.loads(_record(name, pattern)))


async def _delete(store: RedisRuleStore, name: str) -> None:
    await store.update(BUS, name, lambda _: None, keep_targets=False)


async def _calls(redis: aioredis.Redis) -> dict[str, int]:
    """Commands the bus's Redis node has run so far, by name (INFO commandstats; a script's commands count too)."""
    client: Any = redis
    if isinstance(client, aioredis.RedisCluster):
        node = client.get_node_from_key(KEYS.rules(BUS))
        stats: dict[str, Any] = await client.info("commandstats", target_nodes=node)
    else:
        stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def _calls_during(redis: aioredis.Redis, work: Callable[[], Awaitable[object]]) -> dict[str, int]:
    before = await _calls(redis)
    await work()
    after = await _calls(redis)
    return {name: count - before.get(name, 0) for name, count in after.items() if count != before.get(name, 0)}


@pytest.mark.integration
async def test_a_rule_change_reads_only_the_changed_rules_from_redis(redis_client: aioredis.Redis) -> None:
    """Issue 7 item 4: a change costs in proportion to the change in Redis too. The first build reads the whole
    hash; after that a reload reads the rule-changes set and the changed records only, never HGETALL."""
    store = await _bus_with_rules(redis_client, 2000)
    cache = MatcherCache(redis_client, KEYS, 0.0)
    try:
        first = await cache.reload(BUS)
        assert len(first.rule_names) == 2000
        await _put(store, "r5", json.dumps({"source": ["moved"]}))
        await _delete(store, "r6")
        await _put(store, "new", json.dumps({"source": ["app-7"]}))
        calls = await _calls_during(redis_client, lambda: cache.reload(BUS))
        second = await cache.get(BUS)
    finally:
        cache.close()
    assert not {"hgetall", "hmget", "hkeys", "hvals"} & set(calls), calls
    assert calls["hget"] == 3, calls  # r5, r6 (gone: nil) and new; nothing else of the 2,000
    assert calls["zrangebyscore"] == 1, calls
    assert second.version == first.version + 3
    assert second.rule_names == first.rule_names - {"r6"} | {"new"}
    moved = orjson.dumps({"source": "moved", "detail-type": "t", "detail": {}})
    assert (second.match(_app(5)), second.match(_app(6)), second.match(_app(7)), second.match(moved)) == (
        [],
        [],
        ["new", "r7"],
        ["r5"],
    )


@pytest.mark.integration
async def test_the_change_feed_stays_bounded_and_a_reader_behind_its_floor_reads_everything(
    redis_client: aioredis.Redis,
) -> None:
    """Deleted rules' names are kept only until they outnumber the rules (plus RULE_CHANGES_SLACK); a reader that
    last read before the oldest entry kept reads the whole hash once, and both readers end up equal."""
    store = await _bus_with_rules(redis_client, 10)
    behind = MatcherCache(redis_client, KEYS, 0.0)
    current = MatcherCache(redis_client, KEYS, 0.0)
    try:
        await behind.reload(BUS)
        await current.reload(BUS)
        for i in range(200):
            await _put(store, f"tmp{i}", json.dumps({"source": [f"tmp-{i}"]}))
            await _delete(store, f"tmp{i}")
            if i % 50 == 0:
                await current.reload(BUS)
        entries = await redis_client.zcard(KEYS.rule_changes(BUS))
        assert entries <= 2 * 10 + RULE_CHANGES_SLACK + 1
        await _put(store, "r3", json.dumps({"source": ["moved"]}))
        caught_up = await _calls_during(redis_client, lambda: current.reload(BUS))
        read_all = await _calls_during(redis_client, lambda: behind.reload(BUS))
        a, b = await current.get(BUS), await behind.get(BUS)
    finally:
        behind.close()
        current.close()
    assert "hgetall" not in caught_up, caught_up
    assert caught_up["hget"] <= entries, caught_up
    assert read_all["hgetall"] == 1, read_all
    assert a.version == b.version
    assert a.rule_names == b.rule_names == {f"r{i}" for i in range(10)}
    moved = orjson.dumps({"source": "moved", "detail-type": "t", "detail": {}})
    assert a.match(moved) == b.match(moved) == ["r3"]
    assert a.match(_app(3)) == b.match(_app(3)) == []


@pytest.mark.integration
async def test_rules_written_without_the_change_feed_are_noticed_and_read_whole(
    redis_client: aioredis.Redis,
) -> None:
    """A rule added to the hash by hand (or by an older version) leaves the rule count out of step with what the
    feed told the reader: the reader then reads the whole hash rather than keep matching without it."""
    await _bus_with_rules(redis_client, 5)
    cache = MatcherCache(redis_client, KEYS, 0.0)
    try:
        await cache.reload(BUS)
        await redis_client.hset(KEYS.rules(BUS), "by-hand", _record("by-hand", json.dumps({"source": ["app-2"]})))
        await redis_client.incr(KEYS.version(BUS))
        compiled = await cache.reload(BUS)
    finally:
        cache.close()
    assert compiled.match(_app(2)) == ["by-hand", "r2"]


class _Cycle:
    me: object = None


def test_frozen_cyclic_garbage_is_collected_once_the_frozen_heap_has_grown() -> None:
    """`HeapPolicy` freezes whatever is alive at a swap; an object that later becomes cyclic garbage is out of the
    collector's reach until the frozen heap has grown `growth` times with no more rules compiled, and then it is
    collected (one full pass). Growth that more rules explain only raises the mark."""
    policy = HeapPolicy(growth=1.02)
    try:
        policy.settle(rules=10)
        cycle = _Cycle()
        cycle.me = cycle
        ref = weakref.ref(cycle)
        policy.settle(rules=10)  # frozen while alive
        del cycle
        more = [[i] for i in range(policy.baseline // 40 + 1)]  # tracked lists: the heap grows past 1.02x ...
        policy.settle(rules=20)  # ... with more rules: the mark rises, nothing is collected
        assert ref() is not None
        assert policy.full_collections == 0
        assert policy.baseline >= len(more)
        grown = [[i] for i in range(policy.baseline // 40 + 1)]  # and again, with the same rules
        policy.settle(rules=20)
        assert ref() is None
        assert policy.full_collections == 1
        assert policy.baseline >= len(grown) + len(more)
    finally:
        gc.unfreeze()


def test_a_serving_process_collects_its_young_generation_every_young_threshold_allocations() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, before[1], before[2])
        HeapPolicy().started()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])  # the older generations' as they were
        gc.set_threshold(2 * YOUNG_THRESHOLD, before[1], before[2])
        HeapPolicy().started()
        assert gc.get_threshold()[0] == 2 * YOUNG_THRESHOLD  # a higher one set by the operator is kept
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_build_holds_back_automatic_full_collections_and_only_them() -> None:
    policy = HeapPolicy()
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    def build(depth: int) -> int:
        seen.append(gc.get_threshold())
        return policy.building(build, depth - 1) if depth else 7

    try:
        assert policy.building(build, 2) == 7
        assert seen == [(before[0], before[1], FULL_COLLECTIONS_HELD)] * 3
        assert gc.get_threshold() == before
        assert len(gc.get_objects()) < 1000  # what it built is frozen: the collector has only newer objects
    finally:
        gc.unfreeze()
    with pytest.raises(ZeroDivisionError):
        policy.building(lambda: 1 // 0)
    assert gc.get_threshold() == before


@pytest.mark.integration
async def test_a_bus_emptied_leaves_no_change_feed_and_its_readers_still_catch_up(
    redis_client: aioredis.Redis,
) -> None:
    """The last rule deleted takes the rule-changes set with it (a bus without rules keeps no such key); a reader
    that held the old rules notices from the rule count and reads the hash whole."""
    store = await _bus_with_rules(redis_client, 3)
    cache = MatcherCache(redis_client, KEYS, 0.0)
    try:
        await cache.reload(BUS)
        for i in range(3):
            await _delete(store, f"r{i}")
        assert not await redis_client.exists(KEYS.rule_changes(BUS))
        await _put(store, "again", json.dumps({"source": ["app-1"]}))
        compiled = await cache.reload(BUS)
    finally:
        cache.close()
    assert compiled.rule_names == {"again"}
    assert compiled.match(_app(1)) == ["again"]
