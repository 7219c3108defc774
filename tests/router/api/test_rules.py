"""PutRule's pattern check (`router.api.rules.validate_pattern`) without Redis, at AWS's length quota: the longest
pattern it accepts compiles into a bus's matcher (`router.matchers.compile_rules`) and matches on every part of it;
one character more is refused with AWS's message."""

from __future__ import annotations

import orjson
import pytest

from router.api.rules import validate_pattern
from router.errors import InvalidEventPatternException
from router.matchers import compile_rules


def _record(name: str, pattern: str) -> bytes:
    return orjson.dumps({"Name": name, "EventPattern": pattern, "State": "ENABLED"})


def _event(source: str, event_id: str) -> bytes:
    return orjson.dumps({"source": source, "detail-type": "t", "detail": {"id": event_id}})


def _pattern_of(length: int) -> tuple[str, list[str]]:
    """A pattern of exactly `length` characters listing many `detail.id` values (the last padded to fit); the
    pattern and its values."""
    values = [f"v{i:04d}" for i in range((length - 60) // 9)]
    head = '{"source": ["orders"], "detail": {"id": ["'
    text = head + '", "'.join(values) + '"]}}'
    values[-1] += "z" * (length - len(text))
    text = head + '", "'.join(values) + '"]}}'
    assert len(text) == length
    return text, values


def test_a_pattern_of_4096_characters_is_accepted_and_matches_on_every_value() -> None:
    text, values = _pattern_of(4096)  # AWS's quota for a pattern's length
    validate_pattern(text)
    compiled = compile_rules(
        "default", 1, {b"big": _record("big", text), b"other": _record("other", '{"source": ["x"]}')}
    )
    assert compiled.broken == {}
    assert compiled.rule_names == {"big", "other"}
    for value in (values[0], values[len(values) // 2], values[-1]):
        assert compiled.match(_event("orders", value)) == ["big"]
    assert compiled.match(_event("orders", values[-1][:-1])) == []  # the padded last value is matched whole
    assert compiled.match(_event("orders", "v9999")) == []
    assert compiled.match(_event("x", values[0])) == ["other"]


def test_a_pattern_of_4097_characters_is_refused_with_aws_message() -> None:
    text, _ = _pattern_of(4097)
    with pytest.raises(InvalidEventPatternException) as info:
        validate_pattern(text)
    assert info.value.message.endswith("Event pattern is longer than 4096 characters")
