"""`prefix` and `suffix` (each also with `equals-ignore-case`): one index, per-length dict probes at either end.

A prefix and a suffix are the same idea anchored at opposite ends of the value, so one index serves both: all the
affixes of one field (of one kind) are grouped by length, and a value is probed once per distinct length with the
slice of that length at the index's end (`value[:n]` for prefixes, the last n characters for suffixes). That is a
handful of dict lookups per value however many affix rules there are, and much cheaper in Python than walking a
character trie. Case-insensitive affixes probe the folded value. The empty affix matches every string (event-ruler
anchors a prefix on the opening quote of a string value, a suffix on the closing one). No measured hot path needs
separate prefix and suffix code: the end is chosen by one start offset per probe, and a field's hits are memoised
per value above this index (`_fieldindex.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from patterns.equals_ignore_case import fold


@dataclass(frozen=True, slots=True)
class Prefix:
    """Matches a string starting with `text` (folded first when `ignore_case`)."""

    text: str
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class Suffix:
    """Matches a string ending with `text` (folded first when `ignore_case`)."""

    text: str
    ignore_case: bool = False


class AffixIndex:
    """Length → {affix → targets} for one end of the value (`at_end`: suffixes), probed shortest first."""

    __slots__ = ("_at_end", "_by_length", "_ignore_case")

    def __init__(self, entries: list[tuple[str, int]], ignore_case: bool, *, at_end: bool) -> None:
        by_length: dict[int, dict[str, list[int]]] = {}
        for text, target in entries:
            key = fold(text) if ignore_case else text
            by_length.setdefault(len(key), {}).setdefault(key, []).append(target)
        self._by_length = sorted(by_length.items())
        self._ignore_case = ignore_case
        self._at_end = at_end

    def collect(self, text: str, out: list[int]) -> None:
        """Adds the targets of every affix the value has at the index's end."""
        if self._ignore_case:
            text = fold(text)
        size = len(text)
        at_end = self._at_end
        for length, table in self._by_length:
            if length > size:
                break
            start = size - length if at_end else 0
            hit = table.get(text[start : start + length])
            if hit is not None:
                out.extend(hit)
