"""sagas.keys: the documented layout, key by key, built on router.keys.KeySpace (so it shares the router's prefix
and its way of naming a hash slot)."""

from __future__ import annotations

from router.keys import Keys, KeySpace
from sagas.keys import SagaKeys, instance_key, shard_of


def test_every_key_of_the_documented_layout() -> None:
    keys = SagaKeys.of(Keys("pfx"))
    assert isinstance(keys, KeySpace)
    assert keys.types == "pfx:{meta}:saga-types"
    assert keys.instance_tag("order", "o-1") == "pfx:{saga:order:o-1}"
    assert [keys.state("order", "o-1"), keys.history("order", "o-1")] == [
        "pfx:{saga:order:o-1}:state",
        "pfx:{saga:order:o-1}:history",
    ]
    assert [keys.outbox("order", "o-1"), keys.seen("order", "o-1")] == [
        "pfx:{saga:order:o-1}:outbox",
        "pfx:{saga:order:o-1}:seen",
    ]
    assert keys.instance_keys("order", "o-1") == [
        "pfx:{saga:order:o-1}:state",
        "pfx:{saga:order:o-1}:history",
        "pfx:{saga:order:o-1}:outbox",
        "pfx:{saga:order:o-1}:seen",
    ]
    assert keys.timer_owner("order", 3) == "sagas:order:3"
    assert keys.shard_tag("order", 3) == "pfx:{sagas:order:3}"
    assert [keys.index("order", 3), keys.counts("order", 3), keys.counters("order", 3)] == [
        "pfx:{sagas:order:3}:index",
        "pfx:{sagas:order:3}:counts",
        "pfx:{sagas:order:3}:counters",
    ]
    assert keys.rejected("order") == "pfx:{sagas:order:0}:rejected"
    assert Keys("pfx").owner_tag(keys.timer_owner("order", 3)) == keys.shard_tag("order", 3)  # timers share the slot
    assert SagaKeys().types == "sb:{meta}:saga-types"


def test_instance_keys_are_safe_in_a_hash_tag_and_shards_are_stable() -> None:
    assert instance_key("o-1.a_b") == "o-1.a_b"
    assert instance_key("a{b}") == instance_key("a{b}") != "a{b}"
    assert instance_key("a{b}").startswith("h-")
    assert "{" not in instance_key("a{b}")
    assert instance_key("h-x") != "h-x"  # never mistaken for a digest
    assert shard_of("o-1", 8) == shard_of("o-1", 8) < 8
