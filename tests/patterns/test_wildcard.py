"""`wildcard`: `*` is any run of characters, `\\*` and `\\\\` are escapes; string values only.

Error positions (pattern-language.md, "Invalid-pattern errors"; event-ruler `WildcardParser`): N is the UTF-8 byte
index, in the value with its leading quote, of the first `*` of a pair or of the bad backslash.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import assert_invalid, matched

CASES: list[tuple[str, Any, bool]] = [
    ("*", "", True),
    ("*", "anything", True),
    ("*", 5, False),
    ("*", None, False),
    ("*", True, False),
    ("", "", True),
    ("", "x", False),
    ("a*b", "ab", True),
    ("a*b", "axxb", True),
    ("a*b", "a*b", True),
    ("a*b", "abx", False),
    ("a*b", "xab", False),
    ("*.png", "dir/a.png", True),
    ("*.png", "a.png.txt", False),
    ("/Users/*/doc.txt", "/Users/bob/doc.txt", True),
    ("/Users/*/doc.txt", "/Users/bob/sub/doc.txt", True),
    ("*/dir/*", "a/dir/b", True),
    ("*/dir/*", "a/dir", False),
    ("2*0*1*7", "2017", True),
    ("2*0*1*7", "2x0y1z7", True),
    ("2*0*1*7", "2x0y1z7x", False),
    ("a*b*c", "abbbcc", True),
    ("a*", "a\nb", True),
    ("é*ü", "éxü", True),
    (r"a\*b", "a*b", True),
    (r"a\*b", "axb", False),
    (r"a\\b", "a\\b", True),
    (r"a\\*", "a\\xyz", True),
    (r"a\\*", "axyz", False),
    (r"\**", "*x", True),
    (r"\**", "x*", False),
    ("12*", 123, False),
]


@pytest.mark.parametrize(("wildcard", "value", "expected"), CASES)
def test_wildcard(wildcard: str, value: Any, expected: bool) -> None:
    assert matched({"f": [{"wildcard": wildcard}]}, {"f": value}) is expected


def test_wildcard_matches_any_element_of_an_array() -> None:
    assert matched({"f": [{"wildcard": "x*z"}]}, {"f": ["a", "xyz"]})


INVALID: list[tuple[Any, str]] = [
    ({"wildcard": "a**b"}, "Consecutive wildcard characters at pos 2"),
    ({"wildcard": "abc**def"}, "Consecutive wildcard characters at pos 4"),
    ({"wildcard": "**"}, "Consecutive wildcard characters at pos 1"),
    ({"wildcard": "a*b**"}, "Consecutive wildcard characters at pos 4"),
    # Byte index: "é" is two UTF-8 bytes.
    ({"wildcard": "é**"}, "Consecutive wildcard characters at pos 3"),
    ({"wildcard": r"a\b"}, "Invalid escape character at pos 2"),
    ({"wildcard": "ab\\"}, "Invalid escape character at pos 3"),
    ({"wildcard": r"é\x"}, "Invalid escape character at pos 3"),
    ({"wildcard": ["abc"]}, "wildcard match pattern must be a string"),
    ({"wildcard": 5}, "wildcard match pattern must be a string"),
    ({"wildcard": "a*", "prefix": "a"}, "Only one key allowed in match expression"),
]


@pytest.mark.parametrize(("condition", "reason"), INVALID)
def test_invalid_wildcard_is_rejected_with_aws_message(condition: Any, reason: str) -> None:
    assert_invalid({"f": [condition]}, reason)


def test_escaped_star_after_star_is_not_consecutive() -> None:
    assert matched({"f": [{"wildcard": r"*\*"}]}, {"f": "abc*"})
    assert not matched({"f": [{"wildcard": r"*\*"}]}, {"f": "abc"})
