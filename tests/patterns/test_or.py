"""`$or`: alternatives of whole sub-patterns, at any object level and nestable, crossed with the enclosing fields.

pattern-language.md "How ER reads `$or`": it is an OR when its value is an array of 2 or more objects none of
which uses a reserved word as a field name.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import matched

METRICS = {
    "source": ["aws.cloudwatch"],
    "$or": [
        {"metricName": ["CPUUtilization", "ReadLatency"]},
        {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"]},
        {"scope": ["Service"]},
    ],
}

CASES: list[tuple[Any, Any, bool]] = [
    (METRICS, {"source": "aws.cloudwatch", "metricName": "ReadLatency"}, True),
    (METRICS, {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/ES"}, True),
    (METRICS, {"source": "aws.cloudwatch", "metricType": "MetricType"}, False),
    (METRICS, {"source": "aws.cloudwatch", "scope": "Service"}, True),
    (METRICS, {"source": "aws.ec2", "scope": "Service"}, False),
    (METRICS, {"source": "aws.cloudwatch"}, False),
    # Inside a nested object.
    (
        {"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}},
        {"detail": {"c-count": 7, "d-count": 3}},
        True,
    ),
    (
        {"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}},
        {"detail": {"c-count": 7, "d-count": 30}},
        False,
    ),
    # Nested $or.
    (
        {"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"c": ["3"]}]}]},
        {"c": "3"},
        True,
    ),
    (
        {"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"c": ["3"]}]}]},
        {"d": "3"},
        False,
    ),
    # Two $or at different levels are both required (cross product).
    (
        {"$or": [{"a": ["1"]}, {"b": ["2"]}], "x": {"$or": [{"c": ["3"]}, {"d": ["4"]}]}},
        {"b": "2", "x": {"d": "4"}},
        True,
    ),
    (
        {"$or": [{"a": ["1"]}, {"b": ["2"]}], "x": {"$or": [{"c": ["3"]}, {"d": ["4"]}]}},
        {"b": "2", "x": {"e": "4"}},
        False,
    ),
    # Branches with nested objects, and exists:false in a branch.
    ({"$or": [{"a": {"b": ["1"]}}, {"c": [{"exists": False}]}]}, {"a": {"b": "2"}}, True),
    ({"$or": [{"a": {"b": ["1"]}}, {"c": [{"exists": False}]}]}, {"a": {"b": "2"}, "c": 1}, False),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), CASES)
def test_or(pattern: Any, event: Any, expected: bool) -> None:
    assert matched(pattern, event) is expected


def test_or_with_reserved_word_in_a_branch_is_an_ordinary_field_name() -> None:
    # `{"prefix": ..}` objects are match expressions, so "$or" here names a field of the event.
    pattern = {"$or": [{"prefix": "a"}, {"suffix": "z"}]}
    assert matched(pattern, {"$or": "abc"})
    assert matched(pattern, {"$or": "xyz"})
    assert not matched(pattern, {"$or": "mmm"})
    assert not matched(pattern, {"a": "abc"})


def test_or_branches_respect_array_consistency() -> None:
    event = {"items": [{"kind": "book", "price": 5}, {"kind": "pen", "price": 50}]}
    assert matched({"items": {"kind": ["pen"], "$or": [{"price": [50]}, {"price": [7]}]}}, event)
    assert not matched({"items": {"kind": ["pen"], "$or": [{"price": [5]}, {"price": [7]}]}}, event)
