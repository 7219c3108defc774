"""`numeric`: `=`, `<`, `<=`, `>`, `>=` and two-sided ranges over comparable numbers.

`read_numeric` follows event-ruler's reading order, so each malformed expression gets its message. Operands must be
comparable (`numbers.comparable`), else "Cannot compare number : X". `=` becomes an exact match on the float key;
the other forms become a `Range`. `IntervalIndex` answers "which ranges contain x" with one `bisect`: the distinct
end points split the line into gaps and points, and each of those elementary regions has its precomputed tuple of
targets. CIDR ranges (`cidr.py`) reuse it over integer addresses.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Final, Protocol

from patterns import _jsontext as jt
from patterns.errors import _PatternError
from patterns.exact import Exact
from patterns.numbers import comparable

_COVERAGE_BUDGET: Final = 2_000_000


class _Tokens(Protocol):
    def next(self) -> jt.Token: ...


@dataclass(frozen=True, slots=True)
class Range:
    """Matches a comparable number between `low` and `high` (either may be infinite)."""

    low: float
    low_open: bool
    high: float
    high_open: bool


def _operand(text: str) -> float:
    value = comparable(text)
    if value is None:
        raise _PatternError(f"Cannot compare number : {text}")
    return value


def _range(low: float, low_open: bool, high: float, high_open: bool) -> Range:
    if low >= high:
        raise _PatternError("Bottom must be less than top")
    return Range(low, low_open, high, high_open)


def read_numeric(tokens: _Tokens) -> Exact | Range:
    """Reads the array after `"numeric":` (its `[` already consumed) up to and including its `]`."""
    kind, text = tokens.next()
    if kind != jt.STRING:
        raise _PatternError(f"Invalid member in numeric match: {text}")
    operator = text
    kind, text = tokens.next()
    names = {"=": "equals", ">=": ">=", ">": ">", "<=": "<=", "<": "<"}
    if operator not in names:
        raise _PatternError(f"Unrecognized numeric range operator: {operator}")
    if kind != jt.NUMBER:
        raise _PatternError(f"Value of {names[operator]} must be numeric")
    value = _operand(text)
    if operator == "=":
        if tokens.next()[0] != jt.END_ARRAY:
            raise _PatternError("Too many elements in numeric expression")
        return Exact(value)
    if operator in ("<", "<="):
        if tokens.next()[0] != jt.END_ARRAY:
            raise _PatternError("Too many elements in numeric expression")
        return _range(-math.inf, True, value, operator == "<")
    kind, text = tokens.next()
    if kind == jt.END_ARRAY:
        return _range(value, operator == ">", math.inf, True)
    if kind != jt.STRING:
        raise _PatternError(f"Bad value in numeric range: {text}")
    top_operator = text
    if top_operator not in ("<", "<="):
        raise _PatternError(f"Bad numeric range operator: {top_operator}")
    kind, text = tokens.next()
    if kind != jt.NUMBER:
        raise _PatternError(f"Value of {top_operator} must be numeric")
    top = _operand(text)
    if tokens.next()[0] != jt.END_ARRAY:
        raise _PatternError("Too many terms in numeric range expression")
    return _range(value, operator == ">", top, top_operator == "<")


class IntervalIndex:
    """Targets of the ranges containing a value, by one bisect over the sorted distinct end points."""

    __slots__ = ("_linear", "points", "regions")

    def __init__(self, entries: list[tuple[float, bool, float, bool, int]]) -> None:
        points = sorted({p for lo, _, hi, _, _ in entries for p in (lo, hi) if not math.isinf(p)})
        self.points = points
        # Region 2i is the gap just below points[i]; region 2i+1 is points[i] itself; the last is above them all.
        spans: list[tuple[int, int, int]] = []
        total = 0
        for lo, lo_open, hi, hi_open, target in entries:
            first = 0 if math.isinf(lo) else 2 * bisect_left(points, lo) + 1 + lo_open
            last = 2 * len(points) if math.isinf(hi) else 2 * bisect_left(points, hi) + 1 - hi_open
            if first <= last:
                spans.append((first, last, target))
                total += last - first + 1
        self._linear: list[tuple[float, bool, float, bool, int]] | None = None
        self.regions: list[tuple[int, ...]] | None = None
        """The targets of each elementary region, or None when the ranges are tested one by one."""
        if total > _COVERAGE_BUDGET:
            # Heavily nested ranges: test each one rather than precompute quadratic coverage.
            self._linear = entries
            return
        regions: list[list[int]] = [[] for _ in range(2 * len(points) + 1)]
        for first, last, target in spans:
            for region in range(first, last + 1):
                regions[region].append(target)
        self.regions = [tuple(r) for r in regions]

    def collect(self, value: float, out: list[int]) -> None:
        if self._linear is not None:
            for lo, lo_open, hi, hi_open, target in self._linear:
                if (lo < value or (lo == value and not lo_open)) and (value < hi or (value == hi and not hi_open)):
                    out.append(target)
            return
        points = self.points
        i = bisect_left(points, value)
        region = 2 * i + 1 if i < len(points) and points[i] == value else 2 * i
        assert self.regions is not None
        out.extend(self.regions[region])
