"""Arrays in events: invisible in paths, any element may match, and array consistency.

pattern-language.md "Arrays in events" and "Array consistency": two rule fields may not be satisfied by values in
different elements of the same array (the `employees` example); nested arrays are flattened.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import matched

EMPLOYEES = {
    "employees": [
        {"first": "John", "last": "Doe"},
        {"first": "Anna", "last": "Smith"},
        {"first": "Peter", "last": "Jones"},
    ]
}

CASES: list[tuple[Any, Any, bool]] = [
    ({"employees": {"first": ["Anna"], "last": ["Smith"]}}, EMPLOYEES, True),
    ({"employees": {"first": ["Anna"], "last": ["Jones"]}}, EMPLOYEES, False),
    ({"employees": {"first": ["Anna", "Peter"], "last": ["Jones"]}}, EMPLOYEES, True),
    ({"employees": {"first": [{"prefix": "J"}], "last": [{"suffix": "oe"}]}}, EMPLOYEES, True),
    ({"employees": {"first": [{"prefix": "J"}], "last": [{"suffix": "es"}]}}, EMPLOYEES, False),
    ({"employees": {"first": [{"anything-but": "John"}], "last": ["Doe"]}}, EMPLOYEES, False),
    # Values in different arrays are independent.
    ({"a": {"x": ["1"]}, "b": {"y": ["2"]}}, {"a": [{"x": "1"}, {"x": "9"}], "b": [{"y": "0"}, {"y": "2"}]}, True),
    ({"a": ["1"], "b": ["2"]}, {"a": ["0", "1"], "b": ["2", "3"]}, True),
    # A field outside the array combines with any element.
    ({"org": ["acme"], "employees": {"first": ["Peter"]}}, {"org": "acme", **EMPLOYEES}, True),
    # Nested arrays: the same inner element must hold both values; distinct outer elements are distinct.
    ({"a": {"b": {"c": ["1"], "d": ["2"]}}}, {"a": [{"b": [{"c": "1", "d": "2"}]}]}, True),
    ({"a": {"b": {"c": ["1"], "d": ["2"]}}}, {"a": [{"b": [{"c": "1"}, {"d": "2"}]}]}, False),
    ({"a": {"b": {"c": ["1"], "d": ["2"]}}}, {"a": [{"b": [{"c": "1"}]}, {"b": [{"d": "2"}]}]}, False),
    # Sibling fields within one outer element but in different inner arrays are consistent.
    ({"a": {"b": {"c": ["1"]}, "e": {"f": ["2"]}}}, {"a": [{"b": [{"c": "1"}], "e": [{"f": "2"}]}]}, True),
    ({"a": {"b": {"c": ["1"]}, "e": {"f": ["2"]}}}, {"a": [{"b": [{"c": "1"}]}, {"e": [{"f": "2"}]}]}, False),
    # Arrays of arrays of scalars are flattened.
    ({"m": [5]}, {"m": [[1, 2], [3, [4, 5]]]}, True),
    ({"m": [6]}, {"m": [[1, 2], [3, [4, 5]]]}, False),
    # An array directly holding objects and scalars.
    ({"m": ["x"], "m.k": ["y"]}, {"m": ["x", {"k": "y"}]}, False),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), CASES)
def test_arrays(pattern: Any, event: Any, expected: bool) -> None:
    assert matched(pattern, event) is expected


def test_rule_array_is_an_or_of_values_and_matches_any_event_element() -> None:
    rule = {"resources": ["arn:1", "arn:2"]}
    assert matched(rule, {"resources": ["arn:0", "arn:2"]})
    assert not matched(rule, {"resources": ["arn:0", "arn:3"]})
    assert not matched(rule, {"resources": []})


def test_large_event_array_is_matched_quickly() -> None:
    # Array consistency must not enumerate element combinations: 3 fields over 2,000 elements.
    event = {"items": [{"a": str(i), "b": str(i), "c": str(i)} for i in range(2000)]}
    assert matched({"items": {"a": ["1999"], "b": ["1999"], "c": ["1999"]}}, event)
    assert not matched({"items": {"a": ["1998"], "b": ["1999"], "c": ["1999"]}}, event)
