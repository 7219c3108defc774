"""`anything-but` with one value, a list, and the prefix, suffix, equals-ignore-case and wildcard variants.

pattern-language.md "Anything-But": it matches every present value except the excluded ones, including values of
the other type (a string against a numeric list, `true`, `null`); it never matches an absent field; with an array
field one non-excluded element is enough.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import assert_invalid, matched

CASES: list[tuple[Any, Any, bool]] = [
    ("initializing", "running", True),
    ("initializing", "initializing", False),
    ("initializing", "INITIALIZING", True),
    ("initializing", 5, True),
    ("initializing", None, True),
    ("initializing", True, True),
    ("", "", False),
    ("", "x", True),
    (["stopped", "overloaded"], "running", True),
    (["stopped", "overloaded"], "stopped", False),
    (["stopped", "overloaded"], "overloaded", False),
    (123, 123, False),
    (123, 123.0, False),
    (123, 124, True),
    (123, "123", True),
    (0, 0, False),
    (0, 1, True),
    ([100, 200, 300], 200, False),
    ([100, 200, 300], 301, True),
    # RulerTest: the string "444" matches a numeric anything-but.
    ([111, 222, 333], "444", True),
    ([111, 222, 333], "111", True),
    ([111, 222, 333], None, True),
    ({"prefix": "init"}, "initializing", False),
    ({"prefix": "init"}, "running", True),
    ({"prefix": "init"}, 123, True),
    ({"prefix": "init"}, None, True),
    ({"prefix": ["init", "test"]}, "testing", False),
    ({"prefix": ["init", "test"]}, "prod", True),
    ({"suffix": ".txt"}, "a.txt", False),
    ({"suffix": ".txt"}, "a.png", True),
    ({"suffix": [".txt", ".jpg"]}, "a.jpg", False),
    ({"suffix": [".txt", ".jpg"]}, 5, True),
    ({"equals-ignore-case": "Stopped"}, "STOPPED", False),
    ({"equals-ignore-case": "Stopped"}, "running", True),
    ({"equals-ignore-case": ["initializing", "stopped"]}, "Stopped", False),
    ({"equals-ignore-case": ["initializing", "stopped"]}, "running", True),
    ({"equals-ignore-case": ""}, "", False),
    ({"equals-ignore-case": ""}, "x", True),
    ({"wildcard": "*/bin/*.jar"}, "/usr/bin/app.jar", False),
    ({"wildcard": "*/bin/*.jar"}, "/usr/lib/app.jar", True),
    ({"wildcard": ["*/init/*", "*/dir/*"]}, "a/dir/b", False),
    ({"wildcard": ["*/init/*", "*/dir/*"]}, "a/other/b", True),
    ({"wildcard": ""}, "dir/init/file", True),
    ({"wildcard": ""}, "", False),
    ({"wildcard": "*"}, "x", False),
    ({"wildcard": "*"}, 5, True),
]


@pytest.mark.parametrize(("spec", "value", "expected"), CASES)
def test_anything_but(spec: Any, value: Any, expected: bool) -> None:
    assert matched({"f": [{"anything-but": spec}]}, {"f": value}) is expected


@pytest.mark.parametrize(
    "spec", ["x", [1, 2], {"prefix": "x"}, {"suffix": "x"}, {"equals-ignore-case": "x"}, {"wildcard": "x*"}]
)
def test_anything_but_never_matches_an_absent_field(spec: Any) -> None:
    assert not matched({"f": [{"anything-but": spec}]}, {"g": "y"})
    assert not matched({"f": [{"anything-but": spec}]}, {"f": []})
    assert not matched({"f": [{"anything-but": spec}]}, {"f": {"g": "y"}})


def test_anything_but_on_an_array_needs_one_element_not_excluded() -> None:
    assert matched({"f": [{"anything-but": ["a", "b"]}]}, {"f": ["a", "c"]})
    assert not matched({"f": [{"anything-but": ["a", "b"]}]}, {"f": ["a", "b", "a"]})


def test_anything_but_numbers_compare_by_value() -> None:
    assert not matched('{"f": [{"anything-but": [350]}]}', '{"f": 3.5e2}')
    assert matched('{"f": [{"anything-but": [350]}]}', '{"f": 3.5e1}')
    # A number that is not comparable is never excluded by a numeric anything-but.
    assert matched('{"f": [{"anything-but": [123456789012345680]}]}', '{"f": 123456789012345678}')


INVALID: list[tuple[Any, str]] = [
    (None, "Value of anything-but must be an array or single string/number value."),
    (True, "Value of anything-but must be an array or single string/number value."),
    (
        {"prefix": {"equals-ignore-case": "file"}},
        "Value of anything-but must be an array or single string/number value.",
    ),
    (["stopped", None], "Inside anything but list, start|null|boolean is not supported."),
    ([True], "Inside anything but list, start|null|boolean is not supported."),
    ([["a"]], "Inside anything but list, start|null|boolean is not supported."),
    (
        ["a", 1],
        "Inside anything but list, either all values are number or string, mixed type is not supported",
    ),
    ([], "Inside anything but list, either all values are number or string, mixed type is not supported"),
    (
        {"equals-ignore-case": 123},
        "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
    ),
    ({"prefix": ""}, "Null prefix/suffix not allowed"),
    ({"suffix": ""}, "Null prefix/suffix not allowed"),
    ({"prefix": 123}, "prefix/suffix match pattern must be a string"),
    ({"prefix": [123, "test"]}, "prefix/suffix match pattern must be a string"),
    ({"suffix": [None, ".txt"]}, "prefix/suffix match pattern must be a string"),
    ({"wildcard": 123}, "wildcard match pattern must be a string"),
    ({"exists": True}, "Unsupported anything-but pattern: exists"),
    ({}, "Anything-But expression name not found"),
]


@pytest.mark.parametrize(("spec", "reason"), INVALID)
def test_invalid_anything_but_is_rejected_with_aws_message(spec: Any, reason: str) -> None:
    assert_invalid({"f": [{"anything-but": spec}]}, reason)


def test_anything_but_with_an_extra_key_is_rejected() -> None:
    # event-ruler's JsonRuleCompiler closes every anything-but form with its `tooManyElements` check.
    assert_invalid({"f": [{"anything-but": {"prefix": "foo"}, "x": 1}]}, "Too many elements in numeric expression")
