"""Exact matching of strings, numbers, `true`, `false` and `null`, and the explicit `{"exactly": ...}` form.

Facts from pattern-language.md, "Semantics edge cases": values carry their type (the string "true" is not the
literal true; "" and null differ), numbers compare by value when comparable and by text otherwise, and a rule
string that looks like an IP address matches on the canonical address.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import matched

SHOULD_MATCH: list[tuple[Any, Any]] = [
    ({"source": ["aws.ec2"]}, {"source": "aws.ec2"}),
    ({"source": ["aws.s3", "aws.ec2"]}, {"source": "aws.ec2"}),
    ({"source": ["aws.ec2"], "region": ["eu-west-1"]}, {"source": "aws.ec2", "region": "eu-west-1", "x": 1}),
    ({"a": [""]}, {"a": ""}),
    ({"a": [None]}, {"a": None}),
    ({"a": [True]}, {"a": True}),
    ({"a": [False]}, {"a": False}),
    ({"a": ["true"]}, {"a": "true"}),
    ({"a": [300]}, {"a": 300}),
    ({"a": [300]}, {"a": 300.0}),
    ({"a": ["é ✓ 😀"]}, {"a": "é ✓ 😀"}),
    ({"a": ['quote " and \\ backslash']}, {"a": 'quote " and \\ backslash'}),
    # An event array matches if any element does.
    ({"a": ["y"]}, {"a": ["x", "y", "z"]}),
    ({"a": [2]}, {"a": [[1], [2, 3]]}),
    ({"a": [{"exactly": "x"}]}, {"a": "x"}),
]

SHOULD_NOT_MATCH: list[tuple[Any, Any]] = [
    ({"source": ["aws.ec2"]}, {"source": "aws.EC2"}),
    ({"source": ["aws.ec2"]}, {"source": "aws.ec2 "}),
    ({"source": ["aws.ec2"]}, {"other": "aws.ec2"}),
    ({"source": ["aws.ec2"], "region": ["eu-west-1"]}, {"source": "aws.ec2"}),
    ({"a": [""]}, {"a": None}),
    ({"a": [None]}, {"a": ""}),
    ({"a": [None]}, {"a": "null"}),
    ({"a": [None]}, {}),
    ({"a": ["true"]}, {"a": True}),
    ({"a": [True]}, {"a": "true"}),
    ({"a": [True]}, {"a": 1}),
    ({"a": [False]}, {"a": 0}),
    ({"a": [0]}, {"a": False}),
    ({"a": [300]}, {"a": "300"}),
    ({"a": ["300"]}, {"a": 300}),
    ({"a": [300]}, {"a": 301}),
    ({"a": ["x"]}, {"a": {"x": "x"}}),
    ({"a": ["x"]}, {"a": []}),
    ({"a": [{"exactly": "1"}]}, {"a": 1}),
]


@pytest.mark.parametrize(("pattern", "event"), SHOULD_MATCH)
def test_exact_value_matches(pattern: Any, event: Any) -> None:
    assert matched(pattern, event)


@pytest.mark.parametrize(("pattern", "event"), SHOULD_NOT_MATCH)
def test_exact_value_does_not_match(pattern: Any, event: Any) -> None:
    assert not matched(pattern, event)


# Numbers given as JSON text keep their text: pattern-language.md "Numbers in ER" and "Number in an exact list".
NUMBER_TEXT_CASES: list[tuple[str, str, bool]] = [
    ('{"a": [350]}', '{"a": 3.5e2}', True),
    ('{"a": [3.5e2]}', '{"a": 350}', True),
    ('{"a": [350]}', '{"a": 350.0}', True),
    ('{"a": [133.3]}', '{"a": 133.30}', True),
    ('{"a": [133.3]}', '{"a": 1.333e2}', True),
    ('{"a": [123456789012]}', '{"a": 123456789012}', True),
    # 123456789012345678 is not comparable (its double prints as 123456789012345680): text equality only.
    ('{"a": [123456789012345678]}', '{"a": 123456789012345678}', True),
    ('{"a": [123456789012345678]}', '{"a": 123456789012345680}', False),
    ('{"a": [123456789012345680]}', '{"a": 123456789012345678}', False),
    ('{"a": [37.807807921694092]}', '{"a": 37.807807921694092}', True),
    ('{"a": [37.80780792169409]}', '{"a": 37.807807921694092}', False),
    ('{"a": [-122.4286089609642]}', '{"a": -122.42860896096420}', True),
    ('{"a": [1.7976931348623157e308]}', '{"a": 1.7976931348623157E308}', True),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), NUMBER_TEXT_CASES)
def test_exact_number_compares_by_value_when_comparable_else_by_text(pattern: str, event: str, expected: bool) -> None:
    assert matched(pattern, event) is expected
    assert matched(pattern, event.encode()) is expected


# pattern-language.md "IP strings (ER)": a rule string that looks like an IP matches the canonical address.
IP_CASES: list[tuple[str, str, bool]] = [
    ("2001:db8::1", "2001:DB8:0:0:0:0:0:1", True),
    ("2001:DB8:0000::1", "2001:db8::1", True),
    ("2001:db8::1", "2001:db8::2", False),
    ("10.0.0.1", "10.0.0.1", True),
    ("10.0.0.1", "10.0.0.10", False),
    # Fits the IPv6 regex but is not an address: stays exact text.
    ("08:23", "08:23", True),
    ("08:23", "8:23", False),
]


@pytest.mark.parametrize(("rule", "value", "expected"), IP_CASES)
def test_exact_ip_string_matches_on_canonical_address(rule: str, value: str, expected: bool) -> None:
    assert matched({"ip": [rule]}, {"ip": value}) is expected
