"""All the matchers one automaton state has on one field, answering "which next states does this value reach".

A state of the machine (`machine.py`) has, per field, one `FieldIndex` built from every matcher of every outgoing
edge on that field: exact keys in one dict, prefixes and suffixes as per-length probes, ranges by bisect, and so on.
`lookup` answers for a normalised value (a key, see `numbers.py`) with a tuple of next states. Answers are
memoised per index (bounded), so a value seen before costs one dict lookup; the compiled machine is immutable, so
the memo never goes stale (a recompiled state gets a fresh index).
"""

from __future__ import annotations

from typing import Final, Generic, TypeVar

from patterns.anything_but import AnythingBut, AnythingButIndex
from patterns.cidr import CidrIndex, IpRange
from patterns.equals_ignore_case import EqualsIgnoreCase, EqualsIgnoreCaseIndex
from patterns.exact import Exact, ExactIndex
from patterns.exists import Exists
from patterns.numbers import Key
from patterns.numeric import IntervalIndex, Range
from patterns.prefix import Prefix, PrefixIndex
from patterns.suffix import Suffix, SuffixIndex
from patterns.wildcard import Wildcard, WildcardIndex

Matcher = Exact | Prefix | Suffix | EqualsIgnoreCase | Wildcard | Range | IpRange | Exists | AnythingBut
T = TypeVar("T")

MEMO_LIMIT: Final = 4096


class FieldIndex(Generic[T]):
    """Next states reachable from one state through one field, by value; `absent` when the field has none."""

    __slots__ = (
        "_any",
        "_anything_but",
        "_exact",
        "_numeric",
        "_string_indexes",
        "_targets",
        "absent",
        "memo",
    )

    def __init__(self, entries: list[tuple[Matcher, T]]) -> None:
        targets: list[T] = []
        ids: dict[int, int] = {}

        def ident(target: T) -> int:
            key = id(target)
            if key not in ids:
                ids[key] = len(targets)
                targets.append(target)
            return ids[key]

        exact: list[tuple[Exact, int]] = []
        eic: list[tuple[str, int]] = []
        prefixes: dict[bool, list[tuple[str, int]]] = {False: [], True: []}
        suffixes: dict[bool, list[tuple[str, int]]] = {False: [], True: []}
        wildcards: list[tuple[Wildcard, int]] = []
        ranges: list[tuple[float, bool, float, bool, int]] = []
        ips: list[tuple[IpRange, int]] = []
        anything_but: list[tuple[AnythingBut, int]] = []
        present: list[int] = []
        absent: list[T] = []
        for matcher, target in entries:
            if isinstance(matcher, Exists) and not matcher.present:
                if target not in absent:
                    absent.append(target)
                continue
            t = ident(target)
            if isinstance(matcher, Exact):
                exact.append((matcher, t))
            elif isinstance(matcher, EqualsIgnoreCase):
                eic.append((matcher.folded, t))
            elif isinstance(matcher, Prefix):
                prefixes[matcher.ignore_case].append((matcher.text, t))
            elif isinstance(matcher, Suffix):
                suffixes[matcher.ignore_case].append((matcher.text, t))
            elif isinstance(matcher, Wildcard):
                wildcards.append((matcher, t))
            elif isinstance(matcher, Range):
                ranges.append((matcher.low, matcher.low_open, matcher.high, matcher.high_open, t))
            elif isinstance(matcher, IpRange):
                ips.append((matcher, t))
            elif isinstance(matcher, AnythingBut):
                anything_but.append((matcher, t))
            else:
                present.append(t)
        self._targets = tuple(targets)
        self._exact = ExactIndex(exact) if exact else None
        strings: list[EqualsIgnoreCaseIndex | PrefixIndex | SuffixIndex | WildcardIndex | CidrIndex] = []
        if eic:
            strings.append(EqualsIgnoreCaseIndex(eic))
        for ignore_case in (False, True):
            if prefixes[ignore_case]:
                strings.append(PrefixIndex(prefixes[ignore_case], ignore_case))
            if suffixes[ignore_case]:
                strings.append(SuffixIndex(suffixes[ignore_case], ignore_case))
        if wildcards:
            strings.append(WildcardIndex(wildcards))
        if ips:
            strings.append(CidrIndex(ips))
        self._string_indexes = tuple(strings)
        self._numeric = IntervalIndex(ranges) if ranges else None
        self._anything_but = AnythingButIndex(anything_but) if anything_but else None
        self._any = tuple(present)
        self.absent: tuple[T, ...] = tuple(absent)
        self.memo: dict[Key, tuple[T, ...]] = {}

    def lookup(self, key: Key) -> tuple[T, ...]:
        """Next states for one present value."""
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        found: list[int] = list(self._any)
        if self._exact is not None:
            self._exact.collect(key, found)
        if isinstance(key, str):
            for index in self._string_indexes:
                index.collect(key, found)
        elif isinstance(key, float) and self._numeric is not None:
            self._numeric.collect(key, found)
        if self._anything_but is not None:
            self._anything_but.collect(key, found)
        targets = self._targets
        result = tuple(targets[i] for i in sorted(set(found)))
        if len(self.memo) < MEMO_LIMIT:
            self.memo[key] = result
        return result
