"""All the matchers one automaton state has on one field, answering "which next states does this value reach".

A state of the machine (`machine.py`) has, per field, one `FieldIndex` built from every matcher of every outgoing
edge on that field: exact keys in one dict, prefixes and suffixes as per-length probes, ranges by bisect, and so on.
`lookup` answers for a normalised value (a key, see `numbers.py`) with a `Hit`: the rule names held by the states
the value reaches (sorted, each once) and those of the states that have further edges. Hits are interned per index
(one object per distinct set of next states), so the machine can memoise whole answers keyed by hit identities.

Most answers are precomputed when the index is built, so a lookup is one or two dict probes:

- only exact keys (and `exists: true`): one dict from key to hit, a miss gives the "nothing but exists" hit;
- numeric ranges with exact keys: a float that is no exact key gets its elementary interval's precomputed hit
  (one bisect, interval stabbing, see `numeric.py`);
- anything else (affixes, wildcards, ignore-case, CIDR, anything-but): computed, then memoised per index. A value
  that hits nothing but the anything-buts it is not excluded from (the usual case for unique values) gets one
  precomputed hit without any interning work.

Memos are bounded (`MEMO_LIMIT`) and cleared when full; the compiled machine is immutable, so a memo never goes
stale (a recompiled state gets a fresh index).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from types import MethodType
from typing import Any, Final, Generic, Protocol, TypeVar

from patterns.affix import AffixIndex, Prefix, Suffix
from patterns.anything_but import AnythingBut, AnythingButIndex
from patterns.cidr import CidrIndex, IpRange
from patterns.equals_ignore_case import EqualsIgnoreCase, EqualsIgnoreCaseIndex
from patterns.exact import Exact, ExactIndex
from patterns.exists import Exists
from patterns.numbers import Key
from patterns.numeric import IntervalIndex, Range
from patterns.wildcard import Wildcard, WildcardIndex

Matcher = Exact | Prefix | Suffix | EqualsIgnoreCase | Wildcard | Range | IpRange | Exists | AnythingBut


class State(Protocol):
    """What an index needs to know of a next state: the names it holds and whether it has edges."""

    @property
    def names(self) -> tuple[str, ...]: ...

    @property
    def edges(self) -> tuple[Any, ...]: ...


T = TypeVar("T", bound=State)

MEMO_LIMIT: Final = 4096


class Hit(Generic[T]):
    """One interned answer: the sorted names of the states reached, and those reached states with further edges."""

    __slots__ = ("deeper", "names")

    def __init__(self, targets: Sequence[T]) -> None:
        self.names: tuple[str, ...]
        self.deeper: tuple[T, ...]
        if len(targets) <= 1:  # most hits (a state's names are sorted and unique already)
            self.names = targets[0].names if targets else ()
            self.deeper = (targets[0],) if targets and targets[0].edges else ()
            return
        self.names = tuple(sorted({name for target in targets for name in target.names}))
        self.deeper = tuple(target for target in targets if target.edges)


class FieldIndex(Generic[T]):
    """Next states reachable from one state through one field, by value; `absent` when the field has none."""

    __slots__ = (
        "_any",
        "_anything_but",
        "_exact",
        "_exact_hits",
        "_exact_ids",
        "_interned",
        "_lookup",
        "_memo",
        "_nothing",
        "_numeric",
        "_plain",
        "_points",
        "_regions",
        "_string_indexes",
        "_targets",
        "absent",
        "default",
        "known",
    )

    def __init__(self, entries: list[tuple[Matcher, T]]) -> None:
        if all(matcher.__class__ is Exact for matcher, _ in entries):
            self._init_exact(entries)
            return
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
        self._interned: dict[tuple[int, ...], Hit[T]] = {}
        self._memo: dict[Key, Hit[T]] = {}
        self._exact = ExactIndex(exact) if exact else None
        strings: list[EqualsIgnoreCaseIndex | AffixIndex | WildcardIndex | CidrIndex] = []
        if eic:
            strings.append(EqualsIgnoreCaseIndex(eic))
        for ignore_case in (False, True):
            if prefixes[ignore_case]:
                strings.append(AffixIndex(prefixes[ignore_case], ignore_case, at_end=False))
            if suffixes[ignore_case]:
                strings.append(AffixIndex(suffixes[ignore_case], ignore_case, at_end=True))
        if wildcards:
            strings.append(WildcardIndex(wildcards))
        if ips:
            strings.append(CidrIndex(ips))
        self._string_indexes = tuple(strings)
        self._numeric = IntervalIndex(ranges) if ranges else None
        self._anything_but = AnythingButIndex(anything_but) if anything_but else None
        self._any = tuple(present)
        self.absent: Hit[T] = Hit(absent)
        # A present value that no matcher but `exists: true` (and the anything-buts it is not excluded from) takes.
        base = list(self._any)
        if self._anything_but is not None:
            self._anything_but.collect_all(base)
        self._nothing = self._intern(base)
        # Exact keys with their full answers, when nothing else on the field could also match them.
        self._exact_ids: dict[Key, list[int]] = self._exact.table if self._exact is not None else {}
        self._plain = not strings and self._anything_but is None
        self._exact_hits: dict[Key, Hit[T]] = {}
        if self._plain:
            for key, found in self._exact_ids.items():
                found = [*self._any, *found]
                if self._numeric is not None and isinstance(key, float):
                    self._numeric.collect(key, found)
                self._exact_hits[key] = self._intern(found)
        # Each elementary interval of the numeric ranges with its full answer (interval stabbing).
        self._points: list[float] = []
        self._regions: list[Hit[T]] = []
        self._lookup: Callable[[FieldIndex[T], Key], Hit[T]]
        """How `lookup` answers: one of the `_lookup_*` functions (unbound, so the index holds no reference to
        itself: compiled states are acyclic and freed by reference counting, see `lookup`)."""
        self.known: dict[Key, Hit[T]] = self._memo
        """Values whose hit is already known (precomputed or memoised): try `known.get(key) or lookup(key)`."""
        self.default: Hit[T] | None = None
        """When set, `known.get(key, default)` is the whole answer (only exact keys on the field)."""
        if self._plain and self._numeric is None:
            self.known = self._exact_hits
            self._lookup = FieldIndex._lookup_exact
            self.default = self._nothing
        elif self._plain and self._numeric is not None and self._numeric.regions is not None:
            self._points = self._numeric.points
            self._regions = [self._intern([*self._any, *region]) for region in self._numeric.regions]
            self.known = self._exact_hits
            self._lookup = FieldIndex._lookup_numeric
        elif not strings and self._numeric is None:
            self._lookup = FieldIndex._lookup_but
        else:
            self._lookup = FieldIndex._lookup_memo

    def _init_exact(self, entries: list[tuple[Matcher, T]]) -> None:
        """Only exact keys (most states of a large rule set): the same index as the general build makes for them,
        built without its intermediate tables."""
        targets: list[T] = []
        ids: dict[int, int] = {}
        table: dict[Key, list[int]] = {}
        for matcher, target in entries:
            t = ids.get(id(target))
            if t is None:
                t = ids[id(target)] = len(targets)
                targets.append(target)
            found = table.setdefault(matcher.key, [])  # type: ignore[union-attr]  # (all Exact, tested above)
            if t not in found:
                found.append(t)
        self._targets = tuple(targets)
        self._interned = {}
        self._memo = {}
        self._exact = None
        self._string_indexes = ()
        self._numeric = None
        self._anything_but = None
        self._any = ()
        self.absent = self._nothing = self._intern([])
        self._exact_ids = table
        self._plain = True
        self._exact_hits = {key: self._intern(found) for key, found in table.items()}
        self._points = []
        self._regions = []
        self.known = self._exact_hits
        self._lookup = FieldIndex._lookup_exact
        self.default = self._nothing

    @property
    def lookup(self) -> Callable[[Key], Hit[T]]:
        """The hit of one present value (a new bound method each time: the caller keeps it, not the index)."""
        return MethodType(self._lookup, self)

    def _intern(self, found: list[int]) -> Hit[T]:
        key = tuple(found) if len(found) <= 1 else tuple(sorted(set(found)))
        hit = self._interned.get(key)
        if hit is None:
            targets = self._targets
            hit = self._interned[key] = Hit([targets[i] for i in key])
        return hit

    def _lookup_exact(self, key: Key) -> Hit[T]:
        return self._exact_hits.get(key, self._nothing)

    def _lookup_numeric(self, key: Key) -> Hit[T]:
        hit = self._exact_hits.get(key)
        if hit is not None:
            return hit
        if key.__class__ is not float:
            return self._nothing
        points = self._points
        i = bisect_left(points, key)
        return self._regions[2 * i + 1 if i < len(points) and points[i] == key else 2 * i]

    def _lookup_but(self, key: Key) -> Hit[T]:
        # Only exact keys and anything-buts: a value that is neither an exact key nor excluded (unique values, as a
        # rule) takes the precomputed answer without the general computation.
        assert self._anything_but is not None
        if key not in self._exact_ids and not self._anything_but.excluded(key):
            hit = self._nothing
        else:
            hit = self._compute(key)
        memo = self._memo
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[key] = hit
        return hit

    def _lookup_memo(self, key: Key) -> Hit[T]:
        hit = self._memo.get(key)
        if hit is None:
            hit = self._compute(key)
            memo = self._memo
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[key] = hit
        return hit

    def _compute(self, key: Key) -> Hit[T]:
        found: list[int] = []
        exact = self._exact_ids.get(key)
        if exact is not None:
            found.extend(exact)
        if isinstance(key, str):
            for index in self._string_indexes:
                index.collect(key, found)
        elif isinstance(key, float) and self._numeric is not None:
            self._numeric.collect(key, found)
        anything_but = self._anything_but
        if anything_but is not None:
            excluded = anything_but.excluded(key)
            if not found and not excluded:
                return self._nothing
            anything_but.collect_except(excluded, found)
        elif not found:
            return self._nothing
        found.extend(self._any)
        return self._intern(found)
