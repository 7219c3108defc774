"""Number semantics of EventBridge's matcher (event-ruler since v1.8.0), and the typed keys event values become.

A JSON number is *comparable* when its text is exactly the decimal that Java's `Double.toString` prints for the
double it parses to (compared as decimals, so `3`, `3.0` and `30e-1` are all comparable). Python's `repr(float)` is
the shortest round-tripping form, which is what modern JDKs print, except that Java always shows at least two
significant digits (`4.9E-324`, not `5e-324`); `_java_decimal` applies that rule. A comparable number is keyed and
ordered by its float value; any other number text (`123456789012345678`, `5e-324`, `1E309`) is a `RawNumber`, which
only equals the same text and never falls in a numeric range.

Event values are normalised once, while flattening, into keys that can share one dict without colliding: `str` for
strings, `float` for comparable numbers, `RawNumber` for other number text, and the `TRUE`/`FALSE`/`NULL` singletons
for literals (plain `True` would collide with `1.0` in a dict).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Final


class RawNumber:
    """Number text that is not comparable: it matches only the identical text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawNumber) and other.text == self.text

    def __hash__(self) -> int:
        return hash(("#", self.text))

    def __repr__(self) -> str:
        return f"RawNumber({self.text!r})"


class Literal:
    """`true`, `false` or `null` in an event or a rule; one instance each."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


TRUE: Final = Literal("true")
FALSE: Final = Literal("false")
NULL: Final = Literal("null")

Key = str | float | RawNumber | Literal

_EXACT_INT: Final = 2**53


def _java_decimal(value: float) -> Decimal:
    """The decimal Java's `Double.toString` prints: the shortest form, but never fewer than two digits."""
    shortest = Decimal(repr(value))
    if len(shortest.normalize().as_tuple().digits) == 1 and value != 0.0:
        exact = Decimal(value)
        two = Decimal(f"{exact:.1e}")
        if two != shortest and float(two) == value:
            return two
    return shortest


def comparable(text: str) -> float | None:
    """The float value of JSON number text, or None when event-ruler cannot compare it."""
    try:
        value = float(text)
        exact = Decimal(text)
    except (ValueError, InvalidOperation):
        return None
    if math.isinf(value):
        return None
    if _java_decimal(value) != exact:
        return None
    return value + 0.0


def number_key(text: str) -> float | RawNumber:
    """The key of a JSON number given as text."""
    value = comparable(text)
    return RawNumber(text) if value is None else value


def int_key(value: int) -> float | RawNumber:
    """The key of an int (exact; big ints that a double cannot hold are raw text)."""
    if -_EXACT_INT < value < _EXACT_INT:
        return float(value)
    try:
        as_float = float(value)
    except OverflowError:
        return RawNumber(str(value))
    if int(as_float) != value:
        return RawNumber(str(value))
    return number_key(str(value))


def float_text(value: float) -> str:
    """The JSON text of a float given as a Python value (its shortest form)."""
    return repr(value)
