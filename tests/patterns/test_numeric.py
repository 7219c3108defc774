"""`numeric`: `=`, `<`, `<=`, `>`, `>=` and two-sided ranges, on comparable numbers only.

pattern-language.md "Numbers in ER": number text that is exactly a double's shortest form is comparable; other
text (e.g. `123456789012345678`) is not, so no range matches it, and a rule using it is rejected with
`Cannot compare number : <text>`.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import assert_invalid, matched

CASES: list[tuple[list[Any], Any, bool]] = [
    ([">", 0], 1, True),
    ([">", 0], 0, False),
    ([">=", 0], 0, True),
    (["<", 10], 9.999, True),
    (["<", 10], 10, False),
    (["<=", 10], 10, True),
    (["=", 3.5], 3.5, True),
    (["=", 3.5], 3.50001, False),
    (["=", 301.8], 301.8, True),
    ([">", 0, "<=", 5], 5, True),
    ([">", 0, "<=", 5], 0, False),
    ([">", 0, "<=", 5], 5.0000001, False),
    ([">=", 0, "<", 5], 0, True),
    ([">=", 0, "<", 5], 5, False),
    ([">", -1e9, "<", 1e9], -999999999.5, True),
    ([">", 100], 101.0, True),
    ([">", -10.5, "<", -10.25], -10.3, True),
    ([">", 1e300], 1.7976931348623157e308, True),
    ([">", 0], 1e-320, True),
    (["<", 0], -1e-320, True),
    # Only numbers: strings, booleans and null never match.
    ([">", 0], "5", False),
    ([">", 0], True, False),
    (["<", 1], None, False),
    (["<", 1], False, False),
]


@pytest.mark.parametrize(("terms", "value", "expected"), CASES)
def test_numeric(terms: list[Any], value: Any, expected: bool) -> None:
    assert matched({"n": [{"numeric": terms}]}, {"n": value}) is expected


NUMBER_TEXT_CASES: list[tuple[str, str, bool]] = [
    ('{"n": [{"numeric": ["=", 3.018e2]}]}', '{"n": 301.8}', True),
    ('{"n": [{"numeric": ["=", 350]}]}', '{"n": 3.5e2}', True),
    ('{"n": [{"numeric": ["=", 350]}]}', '{"n": 350.000}', True),
    ('{"n": [{"numeric": [">", 0]}]}', '{"n": 123456789012345680}', True),
    # Not comparable: falls back to text, so no range matches.
    ('{"n": [{"numeric": [">", 0]}]}', '{"n": 123456789012345678}', False),
    ('{"n": [{"numeric": ["<", 0]}]}', '{"n": -122.418114728237924}', False),
    ('{"n": [{"numeric": ["<", 0]}]}', '{"n": -122.4286089609642}', True),
    ('{"n": [{"numeric": ["<", 1]}]}', '{"n": 1E-325}', False),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), NUMBER_TEXT_CASES)
def test_numeric_on_number_text(pattern: str, event: str, expected: bool) -> None:
    assert matched(pattern, event) is expected


def test_numeric_matches_any_element_of_an_array() -> None:
    assert matched({"n": [{"numeric": [">", 10]}]}, {"n": [1, 2, 30]})
    assert not matched({"n": [{"numeric": [">", 10]}]}, {"n": [1, 2, "30"]})


def test_numeric_alternatives_in_one_field_are_ored() -> None:
    pattern = {"n": [{"numeric": ["<", 0]}, {"numeric": [">", 100]}]}
    assert matched(pattern, {"n": -1})
    assert matched(pattern, {"n": 101})
    assert not matched(pattern, {"n": 50})


INVALID: list[tuple[Any, str]] = [
    ({"numeric": 5}, "Value of numeric must be an array."),
    ({"numeric": [">", 0, ">", 0]}, "Bad numeric range operator: >"),
    ({"numeric": [">", 0, "="]}, "Bad numeric range operator: ="),
    ({"numeric": [">", 0, "<"]}, "Value of < must be numeric"),
    ({"numeric": ["=", True]}, "Value of equals must be numeric"),
    ({"numeric": ["=", "-4e-6"]}, "Value of equals must be numeric"),
    ({"numeric": ["="]}, "Value of equals must be numeric"),
    ({"numeric": [">", "x"]}, "Value of > must be numeric"),
    ({"numeric": [">=", None]}, "Value of >= must be numeric"),
    ({"numeric": ["<=", "1"]}, "Value of <= must be numeric"),
    ({"numeric": ["<>", 1, ">", 0]}, "Unrecognized numeric range operator: <>"),
    ({"numeric": ["<", 1, ">", 0]}, "Too many elements in numeric expression"),
    ({"numeric": ["=", 1, 2]}, "Too many elements in numeric expression"),
    ({"numeric": [">", 30, "<", 1]}, "Bottom must be less than top"),
    ({"numeric": [">", 1, "<", 1]}, "Bottom must be less than top"),
    ({"numeric": [">", 1, "<", 30, False]}, "Too many terms in numeric range expression"),
    ({"numeric": [">", 0, 5]}, "Bad value in numeric range: 5"),
    ({"numeric": [5]}, "Invalid member in numeric match: 5"),
    ({"numeric": [">", 0], "x": 1}, "Too many elements in numeric expression"),
]


@pytest.mark.parametrize(("condition", "reason"), INVALID)
def test_invalid_numeric_is_rejected_with_aws_message(condition: Any, reason: str) -> None:
    assert_invalid({"n": [condition]}, reason)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ('{"n": [{"numeric": ["=", 123456789012345678]}]}', "Cannot compare number : 123456789012345678"),
        ('{"n": [{"numeric": [">", 37.807807921694092]}]}', "Cannot compare number : 37.807807921694092"),
    ],
)
def test_numeric_rejects_a_number_that_is_not_comparable(pattern: str, reason: str) -> None:
    assert_invalid(pattern, reason)
