"""`anything-but`: a value matches unless it is excluded; an absent field never matches.

Forms: one string or number, a list of strings or of numbers, and `prefix`, `suffix`, `equals-ignore-case` or
`wildcard` with one string or a list. Exclusion only applies to values of the excluded kind, so a string list
still matches numbers, `true` and `null`, and a numeric list still matches strings (event-ruler: "start from
matched and subtract"). For an array field one non-excluded element is enough.

As in event-ruler, the exclusions of all anything-but matchers on a field are indexed like ordinary matches (one
dict, prefix/suffix probes, a wildcard index), and a value matches every anything-but it did not hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

from patterns.affix import AffixIndex
from patterns.equals_ignore_case import EqualsIgnoreCaseIndex
from patterns.numbers import Key
from patterns.wildcard import Wildcard, WildcardIndex

Kind = TypingLiteral["exact", "prefix", "suffix", "equals-ignore-case", "wildcard"]


@dataclass(frozen=True, slots=True)
class AnythingBut:
    """Excludes `values` (keys for "exact", strings for affixes and ignore-case, `Wildcard`s for "wildcard")."""

    kind: Kind
    values: frozenset[Key] | frozenset[Wildcard]


class AnythingButIndex:
    """All anything-but matchers of one field; `collect` adds the targets of those the value is not excluded by."""

    __slots__ = ("_affixes", "_exact", "_prefixes", "_string_indexes", "_suffixes", "_targets")

    def __init__(self, entries: list[tuple[AnythingBut, int]]) -> None:
        self._targets = [target for _, target in entries]
        exact: dict[Key, list[int]] = {}
        prefix: list[tuple[str, int]] = []
        suffix: list[tuple[str, int]] = []
        eic: list[tuple[str, int]] = []
        wildcard: list[tuple[Wildcard, int]] = []
        for ident, (matcher, _) in enumerate(entries):
            for value in matcher.values:
                if matcher.kind == "exact":
                    assert not isinstance(value, Wildcard)
                    exact.setdefault(value, []).append(ident)
                elif isinstance(value, Wildcard):
                    wildcard.append((value, ident))
                elif matcher.kind == "prefix":
                    assert isinstance(value, str)
                    prefix.append((value, ident))
                elif matcher.kind == "suffix":
                    assert isinstance(value, str)
                    suffix.append((value, ident))
                else:
                    assert isinstance(value, str)
                    eic.append((value, ident))
        self._exact = exact
        strings: list[AffixIndex | EqualsIgnoreCaseIndex | WildcardIndex] = []
        if prefix:
            strings.append(AffixIndex(prefix, False, at_end=False))
        if suffix:
            strings.append(AffixIndex(suffix, False, at_end=True))
        if eic:
            strings.append(EqualsIgnoreCaseIndex(eic))
        if wildcard:
            strings.append(WildcardIndex(wildcard))
        self._string_indexes = tuple(strings)
        # When only prefixes and suffixes exclude strings, one `startswith`/`endswith` on the tuple of them tells
        # whether any does, before the per-length probes say which.
        self._affixes = not eic and not wildcard
        self._prefixes = tuple(text for text, _ in prefix)
        self._suffixes = tuple(text for text, _ in suffix)

    def excluded(self, key: Key) -> list[int]:
        """The anything-but matchers (by position) that exclude `key`."""
        excluded: list[int] = []
        hit = self._exact.get(key)
        if hit is not None:
            excluded.extend(hit)
        if isinstance(key, str):
            if self._affixes and not key.startswith(self._prefixes) and not key.endswith(self._suffixes):
                return excluded
            for index in self._string_indexes:
                index.collect(key, excluded)
        return excluded

    def collect_all(self, out: list[int]) -> None:
        """Adds the targets of every anything-but (a value excluded by none)."""
        out.extend(self._targets)

    def collect_except(self, excluded: list[int], out: list[int]) -> None:
        """Adds the targets of the anything-buts not in `excluded`."""
        if not excluded:
            out.extend(self._targets)
        else:
            skip = set(excluded)
            out.extend(target for ident, target in enumerate(self._targets) if ident not in skip)

    def collect(self, key: Key, out: list[int]) -> None:
        """Adds the targets of the anything-buts that do not exclude `key`."""
        self.collect_except(self.excluded(key), out)
