"""router.envelope's id generator and the per-request values PutEvents passes to `build_envelope`."""

from __future__ import annotations

import uuid

import orjson

from router.envelope import build_envelope, format_time, uuid4_strings


def test_uuid4_strings_are_canonical_version_4_uuids() -> None:
    ids = uuid4_strings(2000)
    assert len(ids) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text  # lower-case, hyphenated, 36 characters


def test_uuid4_strings_are_unique_within_and_across_calls() -> None:
    ids = [i for _ in range(50) for i in uuid4_strings(100)]
    assert len(set(ids)) == len(ids)


def test_uuid4_strings_use_every_random_hex_digit_position() -> None:
    # Each of the 30 free hex positions takes many values: no position is stuck (e.g. a slicing mistake).
    ids = [i.replace("-", "") for i in uuid4_strings(500)]
    for position in range(32):
        values = {i[position] for i in ids}
        if position == 12:
            assert values == {"4"}
        elif position == 16:
            assert values == set("89ab")
        else:
            assert len(values) >= 12, position


def test_uuid4_strings_of_zero_is_empty() -> None:
    assert uuid4_strings(0) == []


def test_build_envelope_uses_the_given_id_and_call_time_unless_the_entry_has_a_time() -> None:
    now_s = 1_700_000_000.0
    entry = {"Source": "s", "DetailType": "d", "Detail": "{}"}
    event_id, envelope = build_envelope(
        entry, account="1", region="r", now_s=now_s, event_id="id-1", now_text=format_time(None, now_s)
    )
    assert event_id == "id-1"
    assert orjson.loads(envelope)["time"] == "2023-11-14T22:13:20Z"
    _, timed = build_envelope(
        {**entry, "Time": 0}, account="1", region="r", now_s=now_s, event_id="id-2", now_text="ignored"
    )
    assert orjson.loads(timed)["time"] == "1970-01-01T00:00:00Z"
    fresh_id, fresh = build_envelope(entry, account="1", region="r", now_s=now_s)
    assert uuid.UUID(fresh_id).version == 4
    assert orjson.loads(fresh)["time"] == "2023-11-14T22:13:20Z"
