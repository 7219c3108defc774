"""archive.codec: members order by event time then arrival, round-trip the envelope exactly, and bound windows."""

from __future__ import annotations

import random
import struct

import orjson
import pytest
import zstandard

from archive import codec
from router.envelope import build_envelope


def _envelope(time: str | None = None, detail: dict[str, object] | None = None) -> bytes:
    entry: dict[str, object] = {"Source": "s", "DetailType": "d", "Detail": orjson.dumps(detail or {"a": 1}).decode()}
    if time is not None:
        entry["Time"] = time
    _, envelope = build_envelope(entry, account="123456789012", region="us-east-1", now_s=1_700_000_000)
    return envelope


def test_a_member_round_trips_the_envelope_and_compresses_big_ones() -> None:
    small = _envelope("2024-05-06T07:08:09Z")
    big = _envelope("2024-05-06T07:08:09Z", {"text": "abc " * 500})
    for event in (small, big):
        member = codec.encode(event, 1_714_979_289_000, 12, 3)
        decoded = codec.decode(member)
        assert decoded.event == event
        assert (decoded.time_ms, decoded.size) == (1_714_979_289_000, len(event))
    assert len(codec.encode(big, 0, 0, 0)) < len(big) / 4
    assert codec.encode(b"{}", 0, 0, 0)[codec.HEAD_BYTES - 1] == codec.CODEC_RAW


def test_members_sort_by_event_time_then_ingest_id_including_before_1970() -> None:
    rng = random.Random(7)
    items = [(rng.randrange(-(10**12), 10**13), rng.randrange(10**13), rng.randrange(100)) for _ in range(500)]
    members = [codec.encode(b'{"n":%d}' % i, t, ms, seq) for i, (t, ms, seq) in enumerate(items)]
    ordered = [codec.decode(m).time_ms for m in sorted(members)]
    assert ordered == sorted(t for t, _, _ in items)
    same_second = sorted(codec.encode(b"{}", 5000, ms, seq) for ms, seq in [(9, 1), (3, 7), (3, 2)])
    assert [codec.key_of(m)[8:] for m in same_second] == [
        (3).to_bytes(8, "big") + (2).to_bytes(8, "big"),
        (3).to_bytes(8, "big") + (7).to_bytes(8, "big"),
        (9).to_bytes(8, "big") + (1).to_bytes(8, "big"),
    ]


def test_window_bounds_are_inclusive_and_after_key_resumes_exactly() -> None:
    members = sorted(codec.encode(b"{}", t, 1, n) for n, t in enumerate([999, 1000, 1000, 2000, 2001]))

    def between(low: bytes, high: bytes) -> list[bytes]:
        def above(m: bytes) -> bool:
            return m >= low[1:] if low[:1] == b"[" else m > low[1:]

        def below(m: bytes) -> bool:
            return m <= high[1:] if high[:1] == b"[" else m < high[1:]

        return [m for m in members if above(m) and below(m)]

    window = between(codec.time_min(1000), codec.time_max(2000))
    assert [codec.decode(m).time_ms for m in window] == [1000, 1000, 2000]
    resumed = between(codec.after_key(codec.key_of(window[0])), codec.time_max(2000))
    assert resumed == window[1:]


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        (_envelope("2024-05-06T07:08:09Z"), 1_714_979_289_000),
        (_envelope(None), 1_700_000_000_000),
        (b'{"time":"2024-05-06T07:08:09.250+00:00","id":"x"}', 1_714_979_289_250),
        (b'{"id":"x","time":"1969-12-31T23:59:59Z"}', -1000),
        (b'{"version":"0","time":"garbage-but-20chars"}', None),
        (b'{"id":"x"}', None),
        (b"not json", None),
        (b"[1]", None),
    ],
)
def test_event_time_is_read_fast_from_router_envelopes_and_parsed_otherwise(envelope: bytes, expected: int) -> None:
    assert codec.event_time_ms(envelope) == expected


def test_decode_refuses_what_is_not_a_member() -> None:
    for junk in (b"short", codec.encode(b"{}", 0, 0, 0)[:-1], b"\x00" * 28 + b"\x09"):
        with pytest.raises(ValueError, match="not an archive member"):
            codec.decode(junk)


def test_imported_events_get_a_stable_hash_as_their_sequence() -> None:
    assert codec.import_seq(b'{"a":1}') == codec.import_seq(b'{"a":1}') != codec.import_seq(b'{"a":2}')


def _trained(size: int, samples: list[bytes]) -> bytes:
    return zstandard.train_dictionary(size, list[bytes | bytearray | memoryview](samples)).as_bytes()


def test_decode_events_gives_what_decode_gives_member_by_member_in_one_loop() -> None:
    rng = random.Random(5)
    samples = [_envelope(None, {"n": n, "order": rng.getrandbits(64), "note": "abc " * (n % 40)}) for n in range(300)]
    first, second = (
        codec.Dictionary(1, _trained(4096, samples[:150])),
        codec.Dictionary(2, _trained(4096, samples[150:])),
    )
    dictionaries = {1: first, 2: second}
    members = [
        codec.encode(event, n, n, 0, (first, second, None)[n % 3]) for n, event in enumerate(samples[:30])
    ]  # dictionary 1, dictionary 2 and plain zstd interleaved
    members.append(codec.encode(b'{"a":1}', 31, 0, 0))  # stored as is
    wrong_size = bytearray(members[0])
    wrong_size[codec.KEY_BYTES + 3] ^= 1  # the header's size no longer matches the frame's
    junk = [b"short", members[1][: codec.HEAD_BYTES + 6], bytes(wrong_size), b"\x00" * 28 + b"\x09", members[2][:-3]]
    page = [*members[:10], *junk, *members[10:]]
    found = codec.decode_events(page, dictionaries)
    expected: list[bytes | None] = []
    for member in page:
        try:
            expected.append(codec.decode(member, dictionaries).event)
        except ValueError:
            expected.append(None)
    assert found == expected
    assert found[10:15] == [None] * 5
    assert [event for event in found if event is not None] == [*samples[:30], b'{"a":1}']
    assert [codec.member_time_ms(member) for member in members] == [*range(30), 31]
    assert codec.member_time_ms(codec.encode(b"{}", -5_000, 0, 0)) == -5_000  # before 1970
    with pytest.raises(codec.MissingDictionary) as missing:
        codec.decode_events(page, {1: first})
    assert missing.value.dictionary_id == 2
    assert codec.decode_events([], dictionaries) == []


def test_a_dictionary_member_round_trips_and_is_smaller_than_a_plain_one() -> None:
    rng = random.Random(3)
    samples = [
        _envelope(f"2024-05-06T07:08:{n % 60:02d}Z", {"order": rng.getrandbits(64), "sku": f"SKU-{n}", "qty": n % 9})
        for n in range(200)
    ]
    dictionary = codec.Dictionary(7, _trained(4096, samples))
    event = samples[-1]
    member = codec.encode(event, 5000, 1, 2, dictionary)
    assert member[codec.HEAD_BYTES - 1] == codec.CODEC_ZSTD_DICT
    assert len(member) < len(codec.encode(event, 5000, 1, 2))
    assert codec.key_of(member) == codec.key_of(codec.encode(event, 5000, 1, 2))  # the same event, the same key
    assert codec.dictionary_ids([member, codec.encode(event, 5000, 1, 2), b"{}"]) == {7}
    decoded = codec.decode(member, {7: dictionary})
    assert (decoded.event, decoded.time_ms, decoded.size) == (event, 5000, len(event))
    with pytest.raises(codec.MissingDictionary) as missing:
        codec.decode(member)
    assert missing.value.dictionary_id == 7
    with pytest.raises(codec.MissingDictionary):
        codec.decode(member, {8: dictionary})
    # a dictionary that does not help: the envelope is stored as is
    assert codec.encode(b'{"a":1}', 0, 0, 0, dictionary)[codec.HEAD_BYTES - 1] == codec.CODEC_RAW
    # an encoder bound once (the archive target's batch) makes the same members, event after event
    for bound in (dictionary, None):
        encode = codec.encoder(bound)
        made = [encode(sample, n, n, 0) for n, sample in enumerate([*samples[:20], b'{"a":1}'])]
        assert made == [codec.encode(sample, n, n, 0, bound) for n, sample in enumerate([*samples[:20], b'{"a":1}'])]
        assert [codec.decode(m, {7: dictionary}).event for m in made] == [*samples[:20], b'{"a":1}']


def test_a_corrupt_dictionary_member_is_a_value_error() -> None:
    samples = [_envelope(None, {"n": n, "text": "abc" * (n % 7)}) for n in range(100)]
    dictionary = codec.Dictionary(1, _trained(2048, samples))
    member = codec.encode(samples[0], 0, 0, 0, dictionary)
    with pytest.raises(ValueError, match="not an archive member"):
        codec.decode(member[: codec.HEAD_BYTES + 6], {1: dictionary})
    with pytest.raises(ValueError, match="too short"):
        codec.decode(member[: codec.HEAD_BYTES + 2], {1: dictionary})


def _orders(count: int, seed: int) -> list[bytes]:
    """~1 KB order-like envelopes, every Detail different (as bench/archive_bench.py sends)."""
    rng = random.Random(seed)
    return [
        _envelope(
            f"2024-05-06T07:{n % 60:02d}:{n % 59:02d}Z",
            {
                "kind": "order",
                "order": {"id": f"o-{rng.getrandbits(48):x}", "total": rng.randint(100, 99_999) / 100},
                "customer": {"id": f"c-{rng.getrandbits(32):x}", "tier": rng.choice(["gold", "silver", "bronze"])},
                "lines": [
                    {"sku": f"SKU-{rng.randint(1, 5000):05d}", "qty": rng.randint(1, 9), "price": rng.randint(1, 9999)}
                    for _ in range(12)
                ],
                "note": rng.choice(["", "gift", "leave at the door", "fragile"]),
                "address": {"street": f"{rng.randint(1, 999)} Main St", "zip": f"{rng.randint(10000, 99999)}"},
            },
        )
        for n in range(count)
    ]


def test_a_dictionary_member_is_header_id_and_frame_and_keeps_under_a_quarter_of_a_1_kb_envelope() -> None:
    """The layout readers rely on (header, the dictionary's id big-endian, one frame without checksum or dictionary
    id), and the ratio the ingest-side parameters (an 8 KB hash table for ~1 KB inputs) must keep."""
    trained = codec.Dictionary(258, _trained(16_384, _orders(400, 1)))
    events = _orders(200, 2)  # none of them among the training set
    stored = 0
    for n, event in enumerate(events):
        member = codec.encode(event, 1_714_979_289_000 + n, 77, n, trained)
        header = struct.pack(">QQQIB", 1_714_979_289_000 + n + (1 << 63), 77, n, len(event), codec.CODEC_ZSTD_DICT)
        assert member[: codec.HEAD_BYTES] == header
        assert member[codec.HEAD_BYTES : codec.HEAD_BYTES + 4] == (258).to_bytes(4, "big")
        frame = member[codec.HEAD_BYTES + 4 :]
        params = zstandard.get_frame_parameters(frame)
        assert (params.has_checksum, params.dict_id, params.content_size) == (False, 0, len(event))
        assert codec.decode(member, {258: trained}).event == event
        stored += len(frame)
    assert 800 < sum(map(len, events)) / len(events) < 1300
    assert stored / sum(map(len, events)) < 0.25
