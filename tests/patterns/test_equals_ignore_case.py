"""`equals-ignore-case`: whole-string comparison with per-character case folding, string values only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import assert_invalid, matched

CASES: list[tuple[str, Any, bool]] = [
    ("ec2 instance", "EC2 Instance", True),
    ("ec2 instance", "ec2 instance", True),
    ("ec2 instance", "ec2 instances", False),
    ("ec2 instance", "ec2", False),
    ("", "", True),
    ("", "x", False),
    ("école", "ÉCOLE", True),
    ("ΣΊΣΥΦΟΣ", "σίσυφοσ", True),
    ("123", 123, False),
    ("true", True, False),
    ("null", None, False),
]


@pytest.mark.parametrize(("wanted", "value", "expected"), CASES)
def test_equals_ignore_case(wanted: str, value: Any, expected: bool) -> None:
    assert matched({"f": [{"equals-ignore-case": wanted}]}, {"f": value}) is expected


def test_equals_ignore_case_matches_any_element_of_an_array() -> None:
    assert matched({"f": [{"equals-ignore-case": "B"}]}, {"f": ["a", "b"]})


INVALID: list[tuple[Any, str]] = [
    ({"equals-ignore-case": ["abc"]}, "equals-ignore-case match pattern must be a string"),
    ({"equals-ignore-case": 5}, "equals-ignore-case match pattern must be a string"),
    ({"equals-ignore-case": {"prefix": "a"}}, "equals-ignore-case match pattern must be a string"),
    ({"equals-ignore-case": "a", "prefix": "a"}, "Only one key allowed in match expression"),
]


@pytest.mark.parametrize(("condition", "reason"), INVALID)
def test_invalid_equals_ignore_case_is_rejected_with_aws_message(condition: Any, reason: str) -> None:
    assert_invalid({"f": [condition]}, reason)
