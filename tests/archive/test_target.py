"""archive.target: one ZADD of the member and one HINCRBY of its size, keyed in the bus's slot."""

from __future__ import annotations

from archive import codec
from archive.keys import ArchiveKeys
from archive.target import archive_target, target_name
from router.extensions import InternalDelivery
from router.keys import Keys

EVENT = b'{"version":"0","id":"e","detail-type":"d","source":"s","account":"1","time":"2024-01-01T00:00:00Z"}'


def _delivery(name: str, entry_id: bytes = b"1700000000000-5") -> InternalDelivery:
    return InternalDelivery("orders", "Events-Archive-a", {}, name, EVENT, Keys(), entry_id)


def test_the_target_stages_the_member_and_its_size_in_the_bus_slot() -> None:
    keys = ArchiveKeys(Keys())
    (zadd, hincr) = archive_target(_delivery(target_name("a", "g1")))
    assert zadd[:3] == ("ZADD", keys.events("orders", "a", "g1"), 0)
    assert hincr == ("HINCRBY", keys.stats("orders", "a", "g1"), "bytes", len(EVENT))
    member = zadd[3]
    assert isinstance(member, bytes)
    decoded = codec.decode(member)
    assert (decoded.event, decoded.time_ms) == (EVENT, 1_704_067_200_000)
    assert codec.key_of(member)[8:] == (1_700_000_000_000).to_bytes(8, "big") + (5).to_bytes(8, "big")
    assert str(zadd[1]).startswith(Keys().bus_tag("orders") + ":")


def test_a_target_name_without_generation_archives_nothing() -> None:
    assert archive_target(_delivery("a")) == ()


def test_an_entry_without_readable_time_is_archived_at_its_arrival() -> None:
    delivery = InternalDelivery("orders", "r", {}, "a/g", b'{"id":"x"}', Keys(), b"1234-0")
    zadd, _ = archive_target(delivery)
    assert isinstance(zadd[3], bytes)
    assert codec.decode(zadd[3]).time_ms == 1234
