"""Unit tests of PutEvents' per-entry limits and AWS's entry-size formula (router/envelope.py), without a server.

The integration tests (tests/router/test_put_events.py) check the same limits over the wire; these pin each boundary
on the functions alone: the size formula's terms, DetailType's 128 characters, Detail's 1,000 levels, Time's forms.
"""

from __future__ import annotations

import pytest

from router.envelope import (
    MAX_DETAIL_DEPTH,
    MAX_DETAIL_TYPE_CHARS,
    TIME_SIZE_BYTES,
    EntryError,
    build_envelope,
    check_entry_types,
    entry_size_bytes,
    format_time,
    parse_detail,
)
from router.errors import SerializationException


def test_the_size_formula_counts_utf8_bytes_of_its_terms_and_14_for_a_time() -> None:
    entry = {"Source": "s", "DetailType": "dt", "Detail": '{"é":1}', "Resources": ["r1", "€"]}
    assert entry_size_bytes(entry) == 1 + 2 + len('{"é":1}'.encode()) + 2 + 3
    assert entry_size_bytes({**entry, "Time": "2024-01-01T00:00:00Z"}) == entry_size_bytes(entry) + TIME_SIZE_BYTES
    assert TIME_SIZE_BYTES == 14


def test_the_size_formula_leaves_out_the_bus_and_the_trace_header() -> None:
    entry = {"Source": "s", "DetailType": "t", "Detail": "{}"}
    assert entry_size_bytes({**entry, "EventBusName": "x" * 100, "TraceHeader": "y" * 100}) == entry_size_bytes(entry)
    assert entry_size_bytes({}) == 0


def _build(**entry: object) -> tuple[str, bytes]:
    base: dict[str, object] = {"Source": "s", "DetailType": "t", "Detail": "{}"}
    return build_envelope({**base, **entry}, account="123456789012", region="us-east-1", now_s=0.0, event_id="e")


def test_detail_type_may_have_128_characters_not_129() -> None:
    assert MAX_DETAIL_TYPE_CHARS == 128
    _build(DetailType="é" * 128)  # characters, not bytes
    with pytest.raises(EntryError) as info:
        _build(DetailType="d" * 129)
    assert (info.value.code, info.value.message) == (
        "InvalidArgument",
        "Parameter DetailType is not valid. Reason: DetailType is longer than 128 characters.",
    )


@pytest.mark.parametrize("name", ["Source", "DetailType", "Detail"])
def test_each_required_member_missing_or_empty_is_invalid(name: str) -> None:
    for value in (None, ""):
        with pytest.raises(EntryError) as info:
            _build(**{name: value})
        assert info.value.code == "InvalidArgument"
        assert info.value.message == f"Parameter {name} is not valid. Reason: {name} is a required argument."


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_detail_may_nest_1000_levels_not_1001() -> None:
    assert MAX_DETAIL_DEPTH == 1000
    assert parse_detail(_nested(1000))
    for text in (_nested(1001), '{"a":' + "[" * 1000 + "]" * 1000 + "}"):
        with pytest.raises(EntryError, match=r"^Detail is malformed\.$"):
            parse_detail(text)
    many_shallow = "{" + ",".join(f'"k{i}":{{}}' for i in range(1_500)) + "}"  # many openers, depth 2
    assert len(parse_detail(many_shallow)) == 1_500


@pytest.mark.parametrize("detail", ["[]", '"text"', "1", "null", "{", "{'a': 1}"])
def test_detail_that_is_no_json_object_is_malformed(detail: str) -> None:
    with pytest.raises(EntryError) as info:
        parse_detail(detail)
    assert (info.value.code, info.value.message) == ("MalformedDetail", "Detail is malformed.")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "1970-01-01T00:00:10Z"),
        (0, "1970-01-01T00:00:00Z"),
        (1_700_000_000.9, "2023-11-14T22:13:20Z"),
        ("1700000000", "2023-11-14T22:13:20Z"),
        ("2024-02-29T23:59:59+01:00", "2024-02-29T22:59:59Z"),
        ("2024-02-29T23:59:59", "2024-02-29T23:59:59Z"),  # no zone: UTC
    ],
)
def test_time_forms(value: int | float | str | None, expected: str) -> None:
    assert format_time(value, 10.0) == expected


@pytest.mark.parametrize("value", [1e20, "soon", "1e400"])
def test_time_out_of_range_or_unreadable_is_invalid(value: float | str) -> None:
    with pytest.raises(EntryError) as info:
        format_time(value, 0.0)
    assert info.value.code == "InvalidArgument"
    assert info.value.message.startswith("Parameter Time is not valid. Reason: ")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["not an object"], "Entries[0] must be a JSON object."),
        ([{}, {"Source": 1}], "Entries[1].Source must be a string."),
        ([{"TraceHeader": ["x"]}], "Entries[0].TraceHeader must be a string."),
        ([{"Resources": "arn"}], "Entries[0].Resources must be a list of strings."),
        ([{"Resources": ["arn", 2]}], "Entries[0].Resources must be a list of strings."),
    ],
)
def test_wrong_json_types_name_the_entry_and_member(entries: list[object], message: str) -> None:
    with pytest.raises(SerializationException) as info:
        check_entry_types(entries)
    assert info.value.message == message
