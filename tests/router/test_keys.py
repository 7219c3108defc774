"""router.keys: the bus partition layout is a contract (other languages compute it; it never changes)."""

from __future__ import annotations

import zlib

import pytest
from redis.crc import key_slot

from router.keys import BUS_PARTITIONS, Keys, KeySpace, bus_partition

KEYS = Keys()


def test_the_partition_is_crc32_of_the_name_mod_64_forever() -> None:
    assert BUS_PARTITIONS == 64
    assert bus_partition("default") == 31 == zlib.crc32(b"default") % 64
    assert bus_partition("orders") == 46
    assert bus_partition("événements") == zlib.crc32("événements".encode()) % 64
    assert {bus_partition(f"bus-{n}") for n in range(2000)} == set(range(BUS_PARTITIONS))


def test_every_key_of_a_bus_is_in_its_partition_slot_and_named_after_the_bus() -> None:
    bus = "shop.orders/v1"
    tag = KEYS.bus_tag(bus)
    assert tag == f"sb:{{b:{bus_partition(bus)}}}:bus:shop.orders/v1"
    per_bus = [
        KEYS.bus_exists(bus),
        KEYS.rules(bus),
        KEYS.targets(bus, "r"),
        KEYS.version(bus),
        KEYS.ingest(bus),
        KEYS.ingest_parked(bus),
        KEYS.bus_counters(bus),
        KEYS.deliveries(bus, "r", "t"),
    ]
    assert all(key.startswith(tag + ":") for key in per_bus)
    shared = [KEYS.delivery_lanes(bus), KEYS.delivery_retries(bus)]
    assert {key_slot(key.encode()) for key in per_bus + shared} == {key_slot(tag.encode())}
    # Two buses of one partition share the slot, never a key.
    other = next(f"b{n}" for n in range(1000) if bus_partition(f"b{n}") == bus_partition(bus))
    assert key_slot(KEYS.ingest(other).encode()) == key_slot(KEYS.ingest(bus).encode())
    assert KEYS.ingest(other) != KEYS.ingest(bus)


@pytest.mark.parametrize("bus", ["default", "a.b-c_d/e", "x"])
def test_a_job_stream_key_parses_back(bus: str) -> None:
    assert KEYS.parse_deliveries(KEYS.deliveries(bus, "rule-1", "t.2")) == (bus, "rule-1", "t.2")


@pytest.mark.parametrize(
    "key",
    [
        "sb:{b:31}:bus:default:ingest",
        "sb:{b:30}:bus:default:deliveries:r:t",
        "other",
        "sb:{b:31}:bus:default:deliveries:r",
    ],
)
def test_other_keys_are_not_job_streams(key: str) -> None:
    assert KEYS.parse_deliveries(key) is None


def test_the_glob_pattern_of_a_bus_matches_its_keys_only() -> None:
    import fnmatch

    pattern = KEYS.bus_pattern("default").replace("\\{", "[{]").replace("\\}", "[}]")
    assert fnmatch.fnmatchcase(KEYS.ingest("default"), pattern)
    assert not fnmatch.fnmatchcase(KEYS.ingest("default2"), pattern)
    assert not fnmatch.fnmatchcase(KEYS.delivery_lanes("default"), pattern)


def test_a_key_space_builds_keys_in_its_tags_slot_under_the_routers_prefix() -> None:
    space = KeySpace.of(Keys("pfx"))
    assert space.tagged("meta") == "pfx:{meta}"
    assert space.tagged("registry:r", "versions", "s") == "pfx:{registry:r}:versions:s"
    assert KeySpace().tagged("x", "y") == "sb:{x}:y"
