"""`prefix` and `prefix` + `equals-ignore-case`: per-length dict probes.

All prefixes of one field are grouped by length; a value is probed once per distinct length (`value[:n]` in the
table for length n). That is a handful of dict lookups per value however many prefix rules there are, and it is
much cheaper in Python than walking a character trie. Case-insensitive prefixes probe the folded value.
The empty prefix matches every string (event-ruler anchors a prefix on the opening quote of a string value).
"""

from __future__ import annotations

from dataclasses import dataclass

from patterns.equals_ignore_case import fold


@dataclass(frozen=True, slots=True)
class Prefix:
    """Matches a string starting with `text` (folded first when `ignore_case`)."""

    text: str
    ignore_case: bool = False


class PrefixIndex:
    """Length → {prefix → targets}, probed longest-first for one value."""

    __slots__ = ("_by_length", "_ignore_case")

    def __init__(self, entries: list[tuple[str, int]], ignore_case: bool) -> None:
        by_length: dict[int, dict[str, list[int]]] = {}
        for text, target in entries:
            key = fold(text) if ignore_case else text
            by_length.setdefault(len(key), {}).setdefault(key, []).append(target)
        self._by_length = sorted(by_length.items())
        self._ignore_case = ignore_case

    def collect(self, text: str, out: list[int]) -> None:
        if self._ignore_case:
            text = fold(text)
        size = len(text)
        for length, table in self._by_length:
            if length > size:
                break
            hit = table.get(text[:length])
            if hit is not None:
                out.extend(hit)

    def contains(self, text: str) -> bool:
        found: list[int] = []
        self.collect(text, found)
        return bool(found)
