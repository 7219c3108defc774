"""`prefix` and `prefix` + `equals-ignore-case`: string values only, anchored at the start.

pattern-language.md: prefix matches only string values (the quote anchors it), and ER allows the empty prefix,
which matches every string value.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import assert_invalid, matched

CASES: list[tuple[Any, Any, bool]] = [
    ({"prefix": "ab"}, "abc", True),
    ({"prefix": "ab"}, "ab", True),
    ({"prefix": "ab"}, "a", False),
    ({"prefix": "ab"}, "xab", False),
    ({"prefix": "ab"}, "ABC", False),
    ({"prefix": "12"}, 123, False),
    ({"prefix": "tr"}, True, False),
    ({"prefix": "nu"}, None, False),
    ({"prefix": ""}, "", True),
    ({"prefix": ""}, "anything", True),
    ({"prefix": ""}, 0, False),
    ({"prefix": ""}, None, False),
    ({"prefix": "é"}, "éa", True),
    ({"prefix": "e"}, "éa", False),
    ({"prefix": {"equals-ignore-case": "aB"}}, "ABC", True),
    ({"prefix": {"equals-ignore-case": "aB"}}, "abc", True),
    ({"prefix": {"equals-ignore-case": "aB"}}, "xab", False),
    ({"prefix": {"equals-ignore-case": "éc"}}, "ÉCOLE", True),
    ({"prefix": {"equals-ignore-case": "12"}}, 123, False),
]


@pytest.mark.parametrize(("condition", "value", "expected"), CASES)
def test_prefix(condition: Any, value: Any, expected: bool) -> None:
    assert matched({"f": [condition]}, {"f": value}) is expected


def test_prefix_matches_any_element_of_an_array() -> None:
    assert matched({"f": [{"prefix": "ab"}]}, {"f": ["x", "abz"]})
    assert not matched({"f": [{"prefix": "ab"}]}, {"f": ["x", "ba"]})


def test_prefix_does_not_match_a_missing_field() -> None:
    assert not matched({"f": [{"prefix": ""}]}, {"g": "abc"})


INVALID: list[tuple[Any, str]] = [
    ({"prefix": 3}, "prefix match pattern must be a string"),
    ({"prefix": ["ab"]}, "prefix match pattern must be a string"),
    ({"prefix": None}, "prefix match pattern must be a string"),
    ({"prefix": "ab", "suffix": "c"}, "Only one key allowed in match expression"),
    ({"prefix": {"wildcard": "a*"}}, "Unsupported prefix pattern: wildcard"),
]


@pytest.mark.parametrize(("condition", "reason"), INVALID)
def test_invalid_prefix_is_rejected_with_aws_message(condition: Any, reason: str) -> None:
    assert_invalid({"f": [condition]}, reason)
