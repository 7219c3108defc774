"""`suffix` and `suffix` + `equals-ignore-case`: string values only, anchored at the end."""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import assert_invalid, matched

CASES: list[tuple[Any, Any, bool]] = [
    ({"suffix": ".png"}, "image.png", True),
    ({"suffix": ".png"}, ".png", True),
    ({"suffix": ".png"}, "image.PNG", False),
    ({"suffix": ".png"}, "image.png.txt", False),
    ({"suffix": "png"}, "pn", False),
    ({"suffix": "23"}, 123, False),
    ({"suffix": "ue"}, True, False),
    ({"suffix": "é"}, "café", True),
    ({"suffix": {"equals-ignore-case": ".PnG"}}, "image.png", True),
    ({"suffix": {"equals-ignore-case": ".PnG"}}, "IMAGE.PNG", True),
    ({"suffix": {"equals-ignore-case": ".png"}}, "image.jpg", False),
    ({"suffix": {"equals-ignore-case": "É"}}, "café", True),
    ({"suffix": {"equals-ignore-case": "23"}}, 123, False),
]


@pytest.mark.parametrize(("condition", "value", "expected"), CASES)
def test_suffix(condition: Any, value: Any, expected: bool) -> None:
    assert matched({"f": [condition]}, {"f": value}) is expected


def test_suffix_matches_any_element_of_an_array() -> None:
    assert matched({"f": [{"suffix": "z"}]}, {"f": ["x", "abz"]})
    assert not matched({"f": [{"suffix": "z"}]}, {"f": ["x", "za"]})


def test_prefix_and_suffix_alternatives_in_one_field_are_ored() -> None:
    pattern = {"f": [{"prefix": "img-"}, {"suffix": ".png"}]}
    assert matched(pattern, {"f": "img-1.jpg"})
    assert matched(pattern, {"f": "photo.png"})
    assert not matched(pattern, {"f": "photo.jpg"})


INVALID: list[tuple[Any, str]] = [
    ({"suffix": 3}, "suffix match pattern must be a string"),
    ({"suffix": [".png"]}, "suffix match pattern must be a string"),
    ({"suffix": ".png", "x": 1}, "Only one key allowed in match expression"),
    ({"suffix": {"prefix": "a"}}, "Unsupported suffix pattern: prefix"),
]


@pytest.mark.parametrize(("condition", "reason"), INVALID)
def test_invalid_suffix_is_rejected_with_aws_message(condition: Any, reason: str) -> None:
    assert_invalid({"f": [condition]}, reason)
