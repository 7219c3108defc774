"""`exists`: presence of a leaf value at a path (`null` counts), absence with `{"exists": false}`.

pattern-language.md "exists": only leaves count (an object is not a value), an empty array yields no field, and with
arrays, absence is judged inside the array element chosen by the other fields (RulerTest's `employees` example).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import assert_invalid, matched

EXISTS = [{"exists": True}]
ABSENT = [{"exists": False}]

CASES: list[tuple[Any, Any, bool]] = [
    ({"a": EXISTS}, {"a": "x"}, True),
    ({"a": EXISTS}, {"a": ""}, True),
    ({"a": EXISTS}, {"a": 0}, True),
    ({"a": EXISTS}, {"a": None}, True),
    ({"a": EXISTS}, {"a": False}, True),
    ({"a": EXISTS}, {"a": ["x"]}, True),
    ({"a": EXISTS}, {"b": "x"}, False),
    ({"a": EXISTS}, {"a": {"b": 1}}, False),
    ({"a": EXISTS}, {"a": {}}, False),
    ({"a": EXISTS}, {"a": []}, False),
    ({"a": EXISTS}, {"a": [[]]}, False),
    ({"a": {"b": EXISTS}}, {"a": {"b": 1}}, True),
    ({"a": {"b": EXISTS}}, {"a": [{"c": 1}, {"b": None}]}, True),
    ({"a": ABSENT}, {"b": "x"}, True),
    ({"a": ABSENT}, {"a": "x"}, False),
    ({"a": ABSENT}, {"a": None}, False),
    ({"a": ABSENT}, {"a": {"b": 1}}, True),
    ({"a": ABSENT}, {"a": []}, True),
    ({"a": ABSENT}, {"a": {}}, True),
    ({"a": ABSENT}, {"a": [1]}, False),
    ({"a": {"b": ABSENT}}, {"a": {"c": 1}}, True),
    ({"a": {"b": ABSENT}}, {"a": {"b": 1}}, False),
    ({"a": {"b": ABSENT}}, {"a": "b"}, True),
    # An absent field plus a present one.
    ({"a": ABSENT, "b": ["x"]}, {"b": "x"}, True),
    ({"a": ABSENT, "b": ["x"]}, {"a": 1, "b": "x"}, False),
    ({"a": ABSENT, "b": ["x"]}, {"c": 1}, False),
    # exists:false ORed with a value (corpus "or-exists").
    ({"a": [{"anything-but": ["roses"]}, {"exists": False}]}, {"b": 1}, True),
    ({"a": [{"anything-but": ["roses"]}, {"exists": False}]}, {"a": "tulips"}, True),
    ({"a": [{"anything-but": ["roses"]}, {"exists": False}]}, {"a": "roses"}, False),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), CASES)
def test_exists(pattern: Any, event: Any, expected: bool) -> None:
    assert matched(pattern, event) is expected


EMPLOYEES = {
    "employees": [
        {"firstName": "John", "lastName": "Doe", "ids": [1, 2]},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones", "ids": []},
    ]
}


def test_exists_false_is_judged_inside_the_array_element_chosen_by_other_fields() -> None:
    # RulerTest: Anna's element lacks "ids" although John's has them.
    assert matched({"employees": {"firstName": ["Anna"], "ids": ABSENT}}, EMPLOYEES)
    # Peter's "ids" is an empty array: no field, so absent.
    assert matched({"employees": {"firstName": ["Peter"], "ids": ABSENT}}, EMPLOYEES)
    assert not matched({"employees": {"firstName": ["John"], "ids": ABSENT}}, EMPLOYEES)


def test_exists_true_inside_an_array_element_needs_the_same_element() -> None:
    assert matched({"employees": {"firstName": ["John"], "ids": EXISTS}}, EMPLOYEES)
    assert not matched({"employees": {"firstName": ["Anna"], "ids": EXISTS}}, EMPLOYEES)


def test_exists_false_without_other_fields_needs_the_path_absent_from_every_element() -> None:
    # Nothing else chooses an element, so any "ids" leaf anywhere makes the path present.
    assert not matched({"employees": {"ids": ABSENT}}, EMPLOYEES)
    assert matched({"employees": {"ids": ABSENT}}, {"employees": [{"firstName": "Anna"}, {"ids": []}]})


def test_exists_false_with_nested_arrays() -> None:
    # ACMachineTest testACWithExistFalseRule's shape: an inner array inside outer elements.
    event = {"a": [{"b": [{"c": "x", "d": 1}, {"c": "y"}]}, {"b": [{"c": "z", "d": 2}]}]}
    assert matched({"a": {"b": {"c": ["y"], "d": ABSENT}}}, event)
    assert not matched({"a": {"b": {"c": ["x"], "d": ABSENT}}}, event)
    assert not matched({"a": {"b": {"c": ["z"], "d": ABSENT}}}, event)


INVALID: list[tuple[Any, str]] = [
    ({"exists": "true"}, "exists match pattern must be either true or false."),
    ({"exists": None}, "exists match pattern must be either true or false."),
    ({"exists": 1}, "exists match pattern must be either true or false."),
    ({"exists": True, "prefix": "a"}, "Only one key allowed in match expression"),
]


@pytest.mark.parametrize(("condition", "reason"), INVALID)
def test_invalid_exists_is_rejected_with_aws_message(condition: Any, reason: str) -> None:
    assert_invalid({"a": [condition]}, reason)
