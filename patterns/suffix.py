"""`suffix` and `suffix` + `equals-ignore-case`: per-length dict probes on the end of the value.

The mirror image of `prefix.py`: suffixes are grouped by length and a value is probed with `value[-n:]` once per
distinct length. Case-insensitive suffixes probe the folded value.
"""

from __future__ import annotations

from dataclasses import dataclass

from patterns.equals_ignore_case import fold


@dataclass(frozen=True, slots=True)
class Suffix:
    """Matches a string ending with `text` (folded first when `ignore_case`)."""

    text: str
    ignore_case: bool = False


class SuffixIndex:
    """Length → {suffix → targets}."""

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
            hit = table.get(text[size - length :])
            if hit is not None:
                out.extend(hit)

    def contains(self, text: str) -> bool:
        found: list[int] = []
        self.collect(text, found)
        return bool(found)
