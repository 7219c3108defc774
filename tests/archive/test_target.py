"""archive.target: per batch, each event's ZADD of its member and HINCRBY of its size, keyed in the bus's slot."""

from __future__ import annotations

from archive import codec
from archive.keys import ArchiveKeys
from archive.target import ARCHIVE_TARGET, archive_batch, target_name
from router.extensions import InternalBatch, InternalBatchTarget
from router.keys import Keys

EVENT = b'{"version":"0","id":"e","detail-type":"d","source":"s","account":"1","time":"2024-01-01T00:00:00Z"}'


def _batch(name: str, events: list[bytes], entry_ids: list[bytes]) -> InternalBatch:
    return InternalBatch("orders", "Events-Archive-a", {}, name, Keys(), entry_ids, events)


def test_the_target_stages_each_member_and_its_size_in_the_bus_slot() -> None:
    keys = ArchiveKeys(Keys())
    other = EVENT.replace(b'"id":"e"', b'"id":"f"').replace(b"2024-01-01", b"2024-01-02")
    made = archive_batch(_batch(target_name("a", "g1"), [EVENT, other], [b"1700000000000-5", b"1700000000001-0"]))
    assert len(made) == 2
    for (zadd, hincr), event, (ms, seq), time_ms in zip(
        made,
        [EVENT, other],
        [(1_700_000_000_000, 5), (1_700_000_000_001, 0)],
        [1_704_067_200_000, 1_704_153_600_000],
        strict=True,
    ):
        assert zadd[:3] == ("ZADD", keys.events("orders", "a", "g1"), 0)
        assert hincr == ("HINCRBY", keys.stats("orders", "a", "g1"), "bytes", len(event))
        member = zadd[3]
        assert isinstance(member, bytes)
        decoded = codec.decode(member)
        assert (decoded.event, decoded.time_ms) == (event, time_ms)
        assert codec.key_of(member)[8:] == ms.to_bytes(8, "big") + seq.to_bytes(8, "big")
        assert str(zadd[1]).startswith(Keys().bus_tag("orders") + ":")


def test_a_target_name_without_generation_archives_nothing() -> None:
    assert archive_batch(_batch("a", [EVENT, EVENT], [b"1-0", b"1-1"])) == [(), ()]


def test_an_entry_without_readable_time_is_archived_at_its_arrival() -> None:
    ((zadd, _),) = archive_batch(_batch("a/g", [b'{"id":"x"}'], [b"1234-0"]))
    assert isinstance(zadd[3], bytes)
    assert codec.decode(zadd[3]).time_ms == 1234


def test_the_kind_is_registered_per_batch() -> None:
    assert isinstance(ARCHIVE_TARGET, InternalBatchTarget)
    assert ARCHIVE_TARGET.handler is archive_batch
