"""`cidr` ranges, and plain rule strings that are IP addresses, matched on the numeric address.

event-ruler turns `{"cidr": "10.0.0.0/24"}` into the closed range from the given address to the address with all
host bits set (the given address is not masked first), with its messages for malformed input and masks of 32 (IPv4)
or 128 (IPv6) and above rejected. A plain rule string that looks like an address (`n.n.n.n`, or hex digits and
colons) and parses as one becomes a one-address range, so `::1` and `0:0:0:0:0:0:0:1` match each other. IPv4-mapped
IPv6 addresses count as IPv4, as Java's `InetAddress` reads them. Ranges are kept per IP version in
`numeric.IntervalIndex` over integer addresses; event strings are parsed only when a field has such ranges.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

from patterns.errors import _PatternError
from patterns.numeric import IntervalIndex

_IPV4_LIKE: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6_CHARS: Final = re.compile(r"[0-9a-fA-F:]*")
"""With a `:` somewhere, event-ruler's `[0-9a-fA-F:]*:[0-9a-fA-F:]*`; written so that no backtracking can make
it quadratic on a long run of colons (its two stars could split the run at every position)."""
_MASK: Final = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True, slots=True)
class IpRange:
    """Matches an address of IP `version` (4 or 6) between `low` and `high`, inclusive."""

    version: int
    low: int
    high: int


def _looks_like_ip(text: str) -> bool:
    if ":" in text:
        return _IPV6_CHARS.fullmatch(text) is not None
    return _IPV4_LIKE.fullmatch(text) is not None


def parse_ip(text: str) -> tuple[int, int] | None:
    """(version, integer address) of an address literal, or None."""
    if not _looks_like_ip(text):
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return 4, int(address.ipv4_mapped)
    return address.version, int(address)


def ip_to_range_if_possible(text: str) -> IpRange | None:
    """The one-address range of a rule string that is an IP address, else None (it stays exact text)."""
    parsed = parse_ip(text)
    if parsed is None:
        return None
    return IpRange(parsed[0], parsed[1], parsed[1])


def read_cidr(text: str) -> IpRange:
    """Parses `{"cidr": text}` with event-ruler's checks and messages."""
    parts = text.split("/")
    while parts and parts[-1] == "":
        parts.pop()  # Java's String.split drops trailing empty strings
    if len(parts) != 2:
        raise _PatternError("Malformed CIDR, one '/' required", suffixes=0)
    if _MASK.fullmatch(parts[1]) is None or not -(2**31) <= int(parts[1]) < 2**31:
        raise _PatternError("Malformed CIDR, mask bits must be an integer", suffixes=0)
    mask = int(parts[1])
    if mask < 0:
        raise _PatternError("Malformed CIDR, mask bits must not be negative", suffixes=0)
    ip = parts[0]
    if not _looks_like_ip(ip):
        raise _PatternError(f"Nonstandard IP address: {ip}", suffixes=0)
    parsed = parse_ip(ip)
    if parsed is None:
        raise _PatternError(f"Invalid IP address: {ip}", suffixes=0)
    version, address = parsed
    width = 32 if version == 4 else 128
    if mask >= width:
        raise _PatternError(f"IPv{version} mask bits must be < {width}", suffixes=0)
    host_bits = (1 << (width - mask)) - 1
    return IpRange(version, address, address | host_bits)


class CidrIndex:
    """Targets of the IP ranges containing an event string's address."""

    __slots__ = ("_v4", "_v6")

    def __init__(self, entries: list[tuple[IpRange, int]]) -> None:
        self._v4 = IntervalIndex([(r.low, False, r.high, False, t) for r, t in entries if r.version == 4])
        self._v6 = IntervalIndex([(r.low, False, r.high, False, t) for r, t in entries if r.version == 6])

    def collect(self, text: str, out: list[int]) -> None:
        parsed = parse_ip(text)
        if parsed is not None:
            (self._v4 if parsed[0] == 4 else self._v6).collect(parsed[1], out)
