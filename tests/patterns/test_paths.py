"""Paths: nesting, dotted keys and repeated keys.

pattern-language.md "Grammar": keys are joined with `.`, so `{"a":{"b.c":[..]}}` and `{"a":{"b":{"c":[..]}}}` are
the same rule and match either event shape; a repeated key in a pattern means last one wins; keys are
case-sensitive; fields the rule does not name are ignored.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import matched

CASES: list[tuple[Any, Any, bool]] = [
    ({"detail": {"state.status": ["running"]}}, {"detail": {"state": {"status": "running"}}}, True),
    ({"detail": {"state": {"status": ["running"]}}}, {"detail": {"state.status": "running"}}, True),
    ({"detail.state.status": ["running"]}, {"detail": {"state": {"status": "running"}}}, True),
    ({"detail": {"state.status": ["running"]}}, {"detail": {"state.status": "running"}}, True),
    ({"detail": {"state.status": ["running"]}}, {"detail": {"state": {"status": "stopped"}}}, False),
    ({"a": {"b": {"c": ["x"]}}}, {"a": {"b": {"c": "x", "d": "y"}, "e": 1}, "f": 2}, True),
    ({"a": {"b": {"c": ["x"]}}}, {"a": {"b": "x"}}, False),
    ({"a": {"b": {"c": ["x"]}}}, {"a": {"c": "x"}}, False),
    ({"MY_KEY": ["my-value"]}, {"my_key": "my-value"}, False),
    ({"": ["x"]}, {"": "x"}, True),
    ({"a": {"": ["x"]}}, {"a": {"": "x"}}, True),
    ({"k ey": ["x"]}, {"k ey": "x"}, True),
    ({"ключ": ["x"]}, {"ключ": "x"}, True),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), CASES)
def test_paths(pattern: Any, event: Any, expected: bool) -> None:
    assert matched(pattern, event) is expected


def test_repeated_key_in_pattern_text_last_one_wins() -> None:
    pattern = '{"x": ["y"], "x": ["z"]}'
    assert matched(pattern, {"x": "z"})
    assert not matched(pattern, {"x": "y"})
