"""Structural errors in patterns, with EventBridge's exact messages (pattern-language.md "Invalid-pattern errors").

Operator-specific errors live with each operator's tests; this module covers the shape of the pattern itself.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import assert_invalid, assert_valid

INVALID: list[tuple[Any, str]] = [
    ({}, "Empty objects are not allowed"),
    ({"a": {}}, "Empty objects are not allowed"),
    ({"a": {"b": ["x"], "c": {}}}, "Empty objects are not allowed"),
    ({"a": []}, "Empty arrays are not allowed"),
    ({"a": {"b": []}}, "Empty arrays are not allowed"),
    ({"a": "x"}, '"a" must be an object or an array'),
    ({"a": 5}, '"a" must be an object or an array'),
    ({"a": None}, '"a" must be an object or an array'),
    ({"a": True}, '"a" must be an object or an array'),
    ({"a": {"b c": "x"}}, '"b c" must be an object or an array'),
    ({"a": [["x"]]}, "Match value must be String, number, true, false, or null"),
    ({"a": ["x", ["y"]]}, "Match value must be String, number, true, false, or null"),
    ({"a": [{}]}, "Match expression name not found"),
    ({"a": [{"foo": 1}]}, "Unrecognized match type foo"),
    ({"a": [{"regex": "a.*"}]}, "Unrecognized match type regex"),
    ({"a": [{"exactly": 1}]}, "exact match pattern must be a string"),
    ({"a": [{"exactly": "x", "prefix": "x"}]}, "Only one key allowed in match expression"),
]


@pytest.mark.parametrize(("pattern", "reason"), INVALID)
def test_invalid_pattern_is_rejected_with_aws_message(pattern: Any, reason: str) -> None:
    assert_invalid(pattern, reason)


@pytest.mark.parametrize("text", ["[1]", '["a"]', '"x"', "5", "null", "true", "[]"])
def test_pattern_that_is_not_an_object_is_rejected(text: str) -> None:
    assert_invalid(text, "Filter is not an object")


def test_first_error_in_document_order_is_reported() -> None:
    assert_invalid('{"a": [], "b": {}}', "Empty arrays are not allowed")
    assert_invalid('{"b": {}, "a": []}', "Empty objects are not allowed")


VALID: list[Any] = [
    {"a": ["x"]},
    {"a": [1, "1", True, None, {"prefix": "p"}]},
    {"a": {"b": {"c": [{"exists": False}]}}},
    {"a": [{"prefix": ""}]},
    {"a": [{"equals-ignore-case": ""}]},
    {"a": [{"anything-but": {"equals-ignore-case": ""}}]},
    {"a": [{"anything-but": {"wildcard": ""}}]},
    {"a": [{"wildcard": ""}]},
    {"a": [{"numeric": ["=", 1.7976931348623157e308]}]},
    '{"a": [{"numeric": [">=", -1E-320]}]}',
]


@pytest.mark.parametrize("pattern", VALID)
def test_valid_edge_pattern_is_accepted(pattern: Any) -> None:
    assert_valid(pattern)
