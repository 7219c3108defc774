"""Exact matching: strings, comparable numbers (by value), other number text, `true`, `false` and `null`.

A rule's exact values and numeric `=` all become keys of one dict per field (see `numbers.py` for the key types),
so the cost of an exact match is one dict lookup whatever the number of rules. Rule strings that look like IP
addresses are not exact matches: event-ruler compiles them as one-address CIDR ranges (see `cidr.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from patterns.numbers import Key


@dataclass(frozen=True, slots=True)
class Exact:
    """Matches a value whose key equals `key` (`{"exactly": "x"}`, `"x"`, `3`, `true`, `null`, `["=", 3]`)."""

    key: Key


class ExactIndex:
    """Key → targets, for every exact matcher on one field."""

    __slots__ = ("table",)

    def __init__(self, entries: list[tuple[Exact, int]]) -> None:
        table: dict[Key, list[int]] = {}
        for matcher, target in entries:
            table.setdefault(matcher.key, []).append(target)
        self.table = table

    def collect(self, key: Key, out: list[int]) -> None:
        hit = self.table.get(key)
        if hit is not None:
            out.extend(hit)
