"""`cidr`: IPv4 and IPv6 ranges, on canonical addresses, with AWS's CIDR error messages.

pattern-language.md "IP strings (ER)": the IPv4 mask must be 0..31 (so /32 is rejected) and the IPv6 mask 0..127.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.patterns._check import assert_invalid, matched

CASES: list[tuple[str, Any, bool]] = [
    ("10.0.0.0/24", "10.0.0.1", True),
    ("10.0.0.0/24", "10.0.0.255", True),
    ("10.0.0.0/24", "10.0.0.0", True),
    ("10.0.0.0/24", "10.0.1.0", False),
    ("10.0.0.0/24", "9.255.255.255", False),
    ("10.0.0.0/8", "10.200.3.4", True),
    ("0.0.0.0/0", "255.255.255.255", True),
    ("10.0.0.0/31", "10.0.0.1", True),
    ("10.0.0.0/31", "10.0.0.2", False),
    ("10.0.0.0/24", "10.0.0.1 ", False),
    ("10.0.0.0/24", "not an ip", False),
    ("10.0.0.0/24", 10, False),
    ("10.0.0.0/24", None, False),
    ("2001:db8:1234:1a00::/64", "2001:db8:1234:1a00::1", True),
    ("2001:db8:1234:1a00::/64", "2001:DB8:1234:1A00:FFFF:0:0:1", True),
    ("2001:db8:1234:1a00::/64", "2001:db8:1234:1a01::1", False),
    ("2001:db8::/32", "10.0.0.1", False),
    ("10.0.0.0/8", "2001:db8::1", False),
]


@pytest.mark.parametrize(("cidr", "value", "expected"), CASES)
def test_cidr(cidr: str, value: Any, expected: bool) -> None:
    assert matched({"ip": [{"cidr": cidr}]}, {"ip": value}) is expected


def test_cidr_matches_any_element_of_an_array() -> None:
    assert matched({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": ["192.168.0.1", "10.0.0.7"]})


INVALID: list[tuple[Any, str]] = [
    ("10.0.0.0/32", "IPv4 mask bits must be < 32"),
    ("2001:db8::/128", "IPv6 mask bits must be < 128"),
    ("10.0.0.0", "Malformed CIDR, one '/' required"),
    ("10.0.0.0/x", "Malformed CIDR, mask bits must be an integer"),
    ("10.0.0.0/-1", "Malformed CIDR, mask bits must not be negative"),
    ("xx.11.xx/8", "Nonstandard IP address: xx.11.xx"),
    ("xxxx:db8:1234:1a00::/64", "Nonstandard IP address: xxxx:db8:1234:1a00::"),
    (["bad-type"], "prefix match pattern must be a string"),
    (5, "prefix match pattern must be a string"),
]


@pytest.mark.parametrize(("cidr", "reason"), INVALID)
def test_invalid_cidr_is_rejected_with_aws_message(cidr: Any, reason: str) -> None:
    assert_invalid({"ip": [{"cidr": cidr}]}, reason)
