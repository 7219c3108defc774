"""`equals-ignore-case`: string equality after case folding, as one dict lookup per field.

Both sides are folded to lower case character by character
(`str.lower()` per character). event-ruler folds per Java `char` with `Locale.ROOT` (accepting either
the lower- or upper-case form of each character); the two agree on everything but a handful of characters whose
lower-case form has a different length or depends on context (Turkish dotted I, final sigma), see docs/patterns.md.
"""

from __future__ import annotations

from dataclasses import dataclass


def fold(text: str) -> str:
    """The case-folded form both rule and event strings are compared in (lower case, character by character)."""
    if text.isascii():
        return text.lower()
    # Per character, as Java folds each char: no context rules such as Greek final sigma.
    return "".join([ch.lower() for ch in text])


@dataclass(frozen=True, slots=True)
class EqualsIgnoreCase:
    """Matches a string equal to `folded` ignoring case."""

    folded: str


class EqualsIgnoreCaseIndex:
    """Folded string → targets."""

    __slots__ = ("_table",)

    def __init__(self, entries: list[tuple[str, int]]) -> None:
        table: dict[str, list[int]] = {}
        for folded, target in entries:
            table.setdefault(folded, []).append(target)
        self._table = table

    def collect(self, text: str, out: list[int]) -> None:
        hit = self._table.get(fold(text))
        if hit is not None:
            out.extend(hit)

    def contains(self, text: str) -> bool:
        return fold(text) in self._table
