"""Shared assertions for the pattern tests: every answer is checked through each public entry point.

`patterns.matches` (TestEventPattern) and a `Machine` holding the rule must agree, and an invalid pattern must be
rejected with the same message by `validate`, `matches` and `Machine.add_rule`. Events and patterns are given
both parsed and as JSON text, so a bug in one input path cannot hide behind the other.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import patterns

PREFIX = "Event pattern is not valid. Reason: "


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def matched(pattern: Any, event: Any) -> bool:
    """Whether `event` matches `pattern`, after checking that every entry point gives the same answer.

    `pattern` and `event` may be parsed values or JSON text; parsed values are also tried as text.
    """
    pattern_forms = [pattern] if isinstance(pattern, str) else [pattern, _as_text(pattern)]
    event_forms = [event] if isinstance(event, str | bytes) else [event, _as_text(event)]
    answers: dict[str, bool] = {}
    for p in pattern_forms:
        machine = patterns.Machine()
        machine.add_rule("rule", p)
        for e in event_forms:
            kind = f"pattern {type(p).__name__}, event {type(e).__name__}"
            answers[f"matches, {kind}"] = patterns.matches(p, e)
            answers[f"Machine, {kind}"] = machine.matches_for_event(e) == ["rule"]
            assert machine.matches_for_event(e) in ([], ["rule"])
    assert len(set(answers.values())) == 1, f"entry points disagree: {answers}"
    return next(iter(answers.values()))


def invalid_message(pattern: Any) -> str:
    """The message every entry point gives for an invalid pattern (they must all give the same one)."""
    messages: list[str] = []
    with pytest.raises(patterns.InvalidEventPattern) as info:
        patterns.validate(pattern)
    messages.append(info.value.message)
    with pytest.raises(patterns.InvalidEventPattern) as info:
        patterns.matches(pattern, {"a": 1})
    messages.append(info.value.message)
    machine = patterns.Machine()
    with pytest.raises(patterns.InvalidEventPattern) as info:
        machine.add_rule("bad", pattern)
    messages.append(info.value.message)
    assert list(machine.rule_names()) == [], "a rejected rule must not be added"
    assert len(set(messages)) == 1, f"entry points disagree: {messages}"
    return messages[0]


def assert_invalid(pattern: Any, reason: str) -> None:
    """`pattern` is rejected, with AWS's message `Event pattern is not valid. Reason: <reason>`."""
    assert invalid_message(pattern) == PREFIX + reason


def assert_valid(pattern: Any) -> None:
    patterns.validate(pattern)
    machine = patterns.Machine()
    machine.add_rule("ok", pattern)
    assert list(machine.rule_names()) == ["ok"]
