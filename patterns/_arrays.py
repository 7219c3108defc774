"""Matching events that have arrays on used paths: array consistency in time linear in the event's size.

Semantics (event-ruler's, `tests/patterns/reference.py`): the fields of one sub-rule must take values that never
sit in different elements of the same array, and `{"exists": false}` holds when no value of its path sits in
elements consistent with the values the other fields chose.

Flattening (`flatten_arrays`) walks the used paths depth first in document order. Every array element is a
*scope* (the root is one too): a node of the scope tree with its parent, the depth in path segments of the array
that holds it (`loc`), and the interval of value positions inside it (`first`, `end`). Each used path gets its
values as `(key, scope)` in position order, so "the values of path q inside scope D" is one bisect.

The walk (`walk`) goes over the trie like the array-free walk, but a walk state is (trie state, the scope of the
last value chosen, its path, pending absences). It rests on one fact about events in which one route of keys
leads to each path (no event object holds both `a` and `a.b`, say): with the predicates of a sub-rule ordered by
path segments, a next value at path q is consistent with every value chosen so far exactly when it lies inside
`cut(last scope, lcp(last path, q))`, the deepest scope around the last value whose array sits on a common prefix
of the two paths. So the state needs only the last value, and the values to try are one contiguous range. The
same holds for `exists: false` at path q, except that a later value may narrow the context: when values of q
exist inside the cut, the absence is kept pending and settled by the next value chosen (it holds if that value's
cut at `lcp(q, its path)` is deeper and holds no value of q); when none exist, it holds for good.

States and (state, field, cut) units are visited once each, and the cuts a state's field can have are disjoint
scopes, so a field's values are scanned at most once per trie state reached: no enumeration of element
combinations. Events that do hold two routes to one used path (`"a.b"` next to `"a"`, found while flattening) take
`walk_aliased`, which carries the chosen (array, element) pairs themselves, pruned to the arrays later fields can
still meet, and settles absences at the end of each sub-rule. Both are iterative.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable
from sys import maxsize
from typing import Any, Final, Protocol

from patterns.flatten import (
    PathTree,
    _check_float,
    check_float_in,
    dotted_targets,
    has_dotted_key,
    normalise,
    number_tokens,
)
from patterns.numbers import Key

_MISSING: Final = object()
_SEARCH_BUDGET_TEXTS: Final = 4
_SEARCH_BUDGET_BASE: Final = 4096


class Scope:
    """The root of an event, or one element of an array, as a node of the scope tree."""

    __slots__ = ("end", "first", "loc", "parent", "span")

    def __init__(self, parent: Scope | None, loc: int, span: list[int]) -> None:
        self.parent = parent
        self.loc = loc
        """Path segments above the array this element belongs to (0 for the root)."""
        self.span = span
        """The value positions of the whole array, `[first, end)`, shared by its elements."""
        self.first = -1
        self.end = maxsize


class Flat:
    """An event's used values: per path, the value positions and `(key, scope)` pairs, in document order."""

    __slots__ = ("aliased", "entries", "positions", "root")

    def __init__(self) -> None:
        self.root = Scope(None, 0, [0, maxsize])
        self.root.first = 0
        self.positions: dict[str, list[int]] = defaultdict(list)
        self.entries: dict[str, list[tuple[Key, Scope]]] = defaultdict(list)
        self.aliased = False
        """Some event object holds two routes to one used path: `walk_aliased` decides."""


def _aliases(value: dict[Any, Any], node: PathTree) -> bool:
    """Whether a key of this object leads to a used path that another of its keys passes through or also ends at."""
    ends = {id(child) for key, child in node.plain if key in value}
    passes: set[int] = set()
    for key in value:
        if not isinstance(key, str) or "." not in key:
            continue
        current: PathTree | None = node
        trail: list[int] = []
        for segment in key.split("."):
            assert current is not None
            current = current.index.get(segment)
            if current is None:
                break
            trail.append(id(current))
        if current is None:
            continue
        *through, last = trail
        if last in ends or last in passes or not ends.isdisjoint(through):
            return True
        ends.add(last)
        passes.update(through)
    return False


class _Values:
    """The used values found so far, with the float-text check's state (see `flatten_arrays`)."""

    __slots__ = ("entries", "floats", "position", "positions")

    def __init__(self, flat: Flat, raw: str | bytes | None) -> None:
        self.positions = flat.positions
        self.entries = flat.entries
        self.position = 0
        self.floats = _FloatChecks(raw)

    def add(self, value: Any, path: str, scope: Scope) -> None:
        kind = value.__class__
        if kind is float:
            self.floats.check(value)
        elif kind is not str:
            value = normalise(value)
        self.positions[path].append(self.position)
        self.entries[path].append((value, scope))
        self.position += 1


def flatten_arrays(event: dict[str, Any], tree: PathTree, raw: str | bytes | None = None) -> Flat:
    """The event's values on used paths with their scopes (iterative, depth first).

    Scalars are recorded as soon as their object or array is read and containers are pushed, so each scope's
    values still take consecutive positions (nothing outside a container is read while it is open).
    """
    flat = Flat()
    values = _Values(flat, raw)
    add = values.add
    stack: list[Any] = [(event, tree, flat.root)]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        marker = item.__class__
        if marker is Scope:  # leaving an array element
            item.end = values.position
            continue
        if marker is list:  # leaving an array
            item[1] = values.position
            continue
        value, node, scope = item
        if scope.first < 0:
            scope.first = values.position
        kind = value.__class__
        if kind is not dict and kind is not list:
            if isinstance(value, dict):
                kind = dict
            elif isinstance(value, list):
                kind = list
            elif node.path is not None:
                add(value, node.path, scope)
                continue
        if kind is dict:
            for key, child in node.plain:
                inner = value.get(key, _MISSING)
                if inner is _MISSING:
                    continue
                inner_kind = inner.__class__
                if inner_kind is str or inner_kind is float or inner_kind is int or inner_kind is bool or inner is None:
                    if child.path is not None:
                        add(inner, child.path, scope)
                else:
                    push((inner, child, scope))
            if node.deep and has_dotted_key(value):
                targets = dotted_targets(value, node)
                if targets:
                    if not flat.aliased:
                        flat.aliased = _aliases(value, node)
                    stack.extend((inner, child, scope) for inner, child in targets)
        elif kind is list:
            loc = node.depth
            span = [values.position, maxsize]
            push(span)
            path = node.path
            for element_value in value:
                element_kind = element_value.__class__
                if element_kind is dict or element_kind is list or isinstance(element_value, dict | list):
                    element = Scope(scope, loc, span)
                    push(element)
                    push((element_value, node, element))
                elif path is not None:
                    element = Scope(scope, loc, span)
                    element.first = values.position
                    add(element_value, path, element)
                    element.end = values.position
    return flat


def flatten_single(
    event: dict[str, Any], tree: PathTree, raw: str | bytes | None = None
) -> dict[str, list[Key]] | None:
    """The event's values by used path, when every array on a used path holds the values of one path only (its
    tree node is `single`): array consistency can then constrain nothing, and a sub-rule matches when each of its
    fields has some value that its matchers take (`walk_single`). None when that does not hold, or when a dotted
    key reaches a used path or a value has an unusual type: `flatten_arrays` decides then. Iterative; each float
    is checked against the text as in `flatten_arrays`."""
    out: dict[str, list[Key]] = {}
    checks = _FloatChecks(raw)
    stack: list[tuple[Any, PathTree]] = [(event, tree)]
    pop, push = stack.pop, stack.append
    while stack:
        value, node = pop()
        kind = value.__class__
        if kind is list:  # (only pushed at `single` nodes)
            path = node.path
            for element in value:
                element_kind = element.__class__
                if element_kind is dict or element_kind is list:
                    push((element, node))
                elif path is None:
                    continue
                elif element_kind is str:
                    _append(out, path, element)
                elif element_kind is float:
                    checks.check(element)
                    _append(out, path, element)
                elif element_kind is int or element_kind is bool or element is None:
                    _append(out, path, normalise(element))
                else:
                    return None
            continue
        if kind is not dict:
            return None
        if node.deep and has_dotted_key(value) and dotted_targets(value, node):
            return None
        for key, child in node.plain:
            inner = value.get(key, _MISSING)
            if inner is _MISSING:
                continue
            inner_kind = inner.__class__
            if inner_kind is str:
                if child.path is not None:
                    _append(out, child.path, inner)
            elif inner_kind is dict:
                if child.plain:
                    push((inner, child))
            elif inner_kind is float:
                if child.path is not None:
                    checks.check(inner)
                    _append(out, child.path, inner)
            elif inner_kind is int or inner_kind is bool or inner is None:
                if child.path is not None:
                    _append(out, child.path, normalise(inner))
            elif inner_kind is list and child.single:
                push((inner, child))
            else:
                return None
    return out


def _append(out: dict[str, list[Key]], path: str, key: Key) -> None:
    found = out.get(path)
    if found is None:
        out[path] = [key]
    else:
        found.append(key)


class _FloatChecks:
    """`_check_float` for each float of one event until the searches have read the text a few times over; then
    its number tokens are indexed once (`number_tokens`), so many floats cost time linear in the event."""

    __slots__ = ("raw", "searched", "tokens")

    def __init__(self, raw: str | bytes | None) -> None:
        self.raw = raw
        self.searched = 0
        self.tokens: tuple[set[Any], bool] | None = None

    def check(self, value: float) -> None:
        raw = self.raw
        if raw is None:
            return
        tokens = self.tokens
        if tokens is None:
            self.searched += _check_float(value, raw)
            if self.searched > _SEARCH_BUDGET_TEXTS * len(raw) + _SEARCH_BUDGET_BASE:
                self.tokens = number_tokens(raw)
        else:
            check_float_in(value, tokens)


class _Hit(Protocol):
    names: tuple[str, ...]
    deeper: tuple[Any, ...]


Lcp = Callable[[str, str], int]
"""Path segments two paths share at their start."""


def _cut(scope: Scope, ell: int, memo: dict[tuple[Scope, int], Scope]) -> Scope:
    """The deepest scope around `scope` (itself included) whose array sits within the first `ell` segments."""
    if scope.loc <= ell:
        return scope
    key = (scope, ell)
    found = memo.get(key)
    if found is None:
        found = scope
        while found.loc > ell:
            assert found.parent is not None  # the root's loc is 0
            found = found.parent
        memo[key] = found
    return found


def _count_inside(positions: list[int] | None, scope: Scope) -> tuple[int, int]:
    if not positions:
        return 0, 0
    return bisect_left(positions, scope.first), bisect_left(positions, scope.end)


def walk(root: Any, flat: Flat, lcp: Lcp) -> set[str]:
    """The names of the rules the event matches, for an event with one route to each used path."""
    positions, entries = flat.positions, flat.entries
    names: set[str] = set()
    cuts: dict[tuple[Scope, int], Scope] = {}
    seen: set[tuple[Any, ...]] = set()
    units: set[tuple[Any, ...]] = set()
    stack: list[tuple[Any, Scope, str | None, tuple[str, ...]]] = [(root, flat.root, None, ())]

    reach: dict[tuple[int, str], int] = {}

    def visit(state: tuple[Any, Scope, str | None, tuple[str, ...]]) -> None:
        if state not in seen:
            seen.add(state)
            stack.append(state)

    def move(child: Any, scope: Scope, path: str) -> None:
        """Visit the state after choosing a value in `scope` at `path`: the state keeps only the part of the
        scope its fields can see (the deepest cut any of them takes), so values that differ only in elements
        no later field shares lead to one state. A state whose absences hand the scope further down keeps it."""
        key = (id(child), path)
        ell = reach.get(key)
        if ell is None:
            if any(edge[3].deeper for edge in child.edges):
                ell = maxsize
            else:
                ell = max((lcp(path, edge[0]) for edge in child.edges), default=0)
            reach[key] = ell
        visit((child, scope if ell == maxsize else _cut(scope, ell, cuts), path, ()))

    while stack:
        node, last, last_path, pending = stack.pop()
        for path, known, lookup, absent, _ in node.edges:
            inside = last if last_path is None else _cut(last, lcp(last_path, path), cuts)
            lo, hi = _count_inside(positions.get(path), inside)
            if absent.names or absent.deeper:
                if lo == hi:  # no value of the path can be consistent: absent whatever comes next
                    if not pending:
                        names.update(absent.names)
                    for child in absent.deeper:
                        visit((child, last, last_path, pending))
                else:  # absent only if a later value narrows the context past these values
                    later = (*pending, path)
                    for child in absent.deeper:
                        visit((child, last, last_path, later))
            if lo == hi:
                continue
            checks: tuple[tuple[str, int], ...] = ()
            for waiting in pending:
                settles = lcp(waiting, path)
                if last_path is not None and settles <= lcp(last_path, waiting):
                    break  # this value cannot narrow the context for `waiting`: it stays present
                checks += ((waiting, settles),)
            else:
                unit = (node, path, inside, checks)
                if unit in units:
                    continue
                units.add(unit)
                found = entries[path]
                for i in range(lo, hi):
                    key, scope = found[i]
                    if checks and not _absent_around(scope, checks, positions, cuts):
                        continue
                    hit: _Hit = known.get(key) or lookup(key)
                    if hit.names:
                        names.update(hit.names)
                    for child in hit.deeper:
                        move(child, scope, path)
    return names


def walk_single(root: Any, fields: dict[str, list[Key]]) -> list[str]:
    """The sorted names of the rules an event matches whose every array holds one path's values (`flatten_single`):
    the array-free walk with several values per field. Each state is visited once and each of its fields' values
    looked up once, so the cost is that of the walk times the values on the fields the states reached read."""
    names: set[str] = set()
    seen: set[int] = set()
    stack = [root]
    while stack:
        for path, known, lookup, absent, default in stack.pop().edges:
            keys = fields.get(path)
            if keys is None:
                hits: Iterable[_Hit] = (absent,)
            elif default is not None:
                hits = {id(hit): hit for hit in [known.get(key, default) for key in keys]}.values()
            else:
                hits = {id(hit): hit for hit in [known.get(key) or lookup(key) for key in keys]}.values()
            for hit in hits:
                if hit.names:
                    names.update(hit.names)
                for child in hit.deeper:
                    if id(child) not in seen:
                        seen.add(id(child))
                        stack.append(child)
    return sorted(names)


def _absent_around(
    scope: Scope, checks: tuple[tuple[str, int], ...], positions: dict[str, list[int]], cuts: dict[Any, Scope]
) -> bool:
    for waiting, settles in checks:
        lo, hi = _count_inside(positions.get(waiting), _cut(scope, settles, cuts))
        if lo != hi:
            return False
    return True


# --- events with two routes to one used path ------------------------------------------------------------------


def _chain(scope: Scope) -> list[Scope]:
    """The array elements around a value's scope, innermost first (the root excluded)."""
    chain: list[Scope] = []
    current: Scope | None = scope
    while current is not None and current.parent is not None:
        chain.append(current)
        current = current.parent
    return chain


def _allowed(binding: frozenset[Scope] | set[Scope]) -> list[tuple[int, int]]:
    """The value positions consistent with the chosen elements, as sorted disjoint `[first, end)` ranges: all
    positions but those in another element of an array that has a chosen one."""
    holes = sorted(
        hole
        for chosen in binding
        for hole in ((chosen.span[0], chosen.first), (chosen.end, chosen.span[1]))
        if hole[0] < hole[1]
    )
    ranges: list[tuple[int, int]] = []
    start = 0
    for first, end in holes:
        if first > start:
            ranges.append((start, first))
        start = max(start, end)
    ranges.append((start, maxsize))
    return ranges


def _outside(binding: frozenset[Scope]) -> list[tuple[int, int]]:
    """The positions outside every array that has a chosen element, as sorted disjoint ranges."""
    ranges: list[tuple[int, int]] = []
    start = 0
    for first, end in sorted((chosen.span[0], chosen.span[1]) for chosen in binding):
        if first > start:
            ranges.append((start, first))
        start = max(start, end)
    ranges.append((start, maxsize))
    return ranges


def _minus(ranges: list[tuple[int, int]], taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`ranges` without the positions in `taken` (both sorted and disjoint; `taken` is a subset of `ranges`)."""
    left: list[tuple[int, int]] = []
    j = 0
    for first, end in ranges:
        while j < len(taken) and taken[j][1] <= first:
            j += 1
        start = first
        k = j
        while k < len(taken) and taken[k][0] < end:
            if taken[k][0] > start:
                left.append((start, taken[k][0]))
            start = max(start, taken[k][1])
            k += 1
        if start < end:
            left.append((start, end))
    return left


def _any_in(positions: list[int], ranges: list[tuple[int, int]]) -> bool:
    for first, end in ranges:
        i = bisect_left(positions, first)
        if i < len(positions) and positions[i] < end:
            return True
    return False


class _Field:
    """One trie state's field over one event (computed once, shared by every walk state that reaches it): the
    values whose hit leads deeper, and those whose hit only names rules, grouped by hit."""

    __slots__ = ("deep", "deep_positions", "named")

    def __init__(self, known: Any, lookup: Any, positions: list[int], found: list[tuple[Key, Scope]]) -> None:
        self.deep: list[tuple[_Hit, Scope]] = []
        self.deep_positions: list[int] = []
        self.named: dict[int, tuple[_Hit, list[int], list[Scope]]] = {}
        for position, (key, scope) in zip(positions, found, strict=True):
            hit: _Hit = known.get(key) or lookup(key)
            if hit.deeper:
                self.deep.append((hit, scope))
                self.deep_positions.append(position)
            elif hit.names:
                group = self.named.get(id(hit))
                if group is None:
                    group = self.named[id(hit)] = (hit, [], [])
                group[1].append(position)
                group[2].append(scope)


def walk_aliased(root: Any, flat: Flat) -> set[str]:
    """The names of the rules the event matches, for any event (exact; used when some path has two routes).

    A state carries the chosen array elements themselves, kept only for arrays that hold a value of a field the
    next state tests or of a pending absence (fields are ordered by path segments, so an array no later field
    reads into can never constrain the sub-rule again); absences are settled against the whole context at the end
    of the sub-rule. The values consistent with a state are ranges of positions (`_allowed`), and each trie
    state's field is looked up once per event (`_Field`), so a state costs its chosen elements and the values that
    lead deeper. States still multiply when later fields read into arrays on two routes at once (docs/patterns.md).
    """
    positions, entries = flat.positions, flat.entries
    names: set[str] = set()
    seen: set[tuple[Any, ...]] = set()
    fields: dict[tuple[int, str], _Field] = {}
    reads: dict[tuple[int, int, tuple[str, ...]], bool] = {}
    batches: dict[tuple[Any, ...], list[tuple[Any, set[frozenset[Scope]]]]] = {}
    stack: list[tuple[Any, frozenset[Scope], tuple[str, ...]]] = [(root, frozenset(), ())]

    def absent_in(path: str, ranges: list[tuple[int, int]]) -> bool:
        return not _any_in(positions.get(path, []), ranges)

    def read_into(node: Any, chosen: Scope, pending: tuple[str, ...]) -> bool:
        """Whether a field `node` tests, or a pending absence, has a value inside the chosen element's array."""
        key = (id(node), id(chosen.span), pending)
        found = reads.get(key)
        if found is None:
            span = [(chosen.span[0], chosen.span[1])]
            paths = [edge[0] for edge in node.edges]
            found = reads[key] = any(_any_in(positions.get(path, []), span) for path in (*paths, *pending))
        return found

    def kept(node: Any, binding: Iterable[Scope], pending: tuple[str, ...]) -> frozenset[Scope]:
        return frozenset(chosen for chosen in binding if read_into(node, chosen, pending))

    def visit(node: Any, binding: frozenset[Scope], pending: tuple[str, ...]) -> None:
        state = (node, binding, pending)
        if state not in seen:
            seen.add(state)
            stack.append(state)

    def outside_batch(
        node: Any, field: _Field, binding: frozenset[Scope], outside: list[tuple[int, int]]
    ) -> tuple[list[tuple[Any, set[frozenset[Scope]]]], bool]:
        """The moves through values outside every array the state chose in: they depend on which arrays those
        are, not on the elements, so states that differ only in elements share them (computed once)."""
        key = (id(node), id(field), frozenset(id(chosen.span) for chosen in binding))
        batch = batches.get(key)
        if batch is not None:
            return batch, False
        by_child: dict[int, tuple[Any, set[frozenset[Scope]]]] = {}
        for first, end in outside:
            lo = bisect_left(field.deep_positions, first)
            hi = bisect_left(field.deep_positions, end)
            for hit, scope in field.deep[lo:hi]:
                names.update(hit.names)
                chain = _chain(scope)
                for child in hit.deeper:
                    entry = by_child.get(id(child))
                    if entry is None:
                        entry = by_child[id(child)] = (child, set())
                    entry[1].add(kept(child, chain, ()))
        batch = batches[key] = list(by_child.values())
        return batch, True

    while stack:
        node, binding, pending = stack.pop()
        ranges = _allowed(binding)
        settled = all(absent_in(waiting, ranges) for waiting in pending)
        for path, known, lookup, absent, _ in node.edges:
            if absent.names or absent.deeper:
                here = absent_in(path, ranges)
                if here and settled:
                    names.update(absent.names)
                later = pending if here else (*pending, path)
                for child in absent.deeper:
                    visit(child, kept(child, binding, later), later)
            if path not in positions:
                continue
            field = fields.get((id(node), path))
            if field is None:
                field = fields[(id(node), path)] = _Field(known, lookup, positions[path], entries[path])
            for hit, group_positions, group_scopes in field.named.values():
                if pending:
                    for position, scope in zip(group_positions, group_scopes, strict=True):
                        if _any_in([position], ranges) and _settled_with(scope, binding, pending, positions):
                            names.update(hit.names)
                            break
                elif not names.issuperset(hit.names) and _any_in(group_positions, ranges):
                    names.update(hit.names)
            inside = ranges
            if not pending:
                outside = _outside(binding)
                inside = _minus(ranges, outside)
                batch, new = outside_batch(node, field, binding, outside)
                for child, moves in batch:
                    base = kept(child, binding, ())
                    if base:
                        for move in moves:
                            visit(child, base | move, ())
                    elif new:
                        for move in moves:
                            visit(child, move, ())
            for first, end in inside:
                lo = bisect_left(field.deep_positions, first)
                hi = bisect_left(field.deep_positions, end)
                for hit, scope in field.deep[lo:hi]:
                    wider = binding.union(_chain(scope))
                    if hit.names and (not pending or _settled_with(scope, binding, pending, positions)):
                        names.update(hit.names)
                    for child in hit.deeper:
                        visit(child, kept(child, wider, pending), pending)
    return names


def _settled_with(
    scope: Scope, binding: frozenset[Scope], pending: tuple[str, ...], positions: dict[str, list[int]]
) -> bool:
    """Whether every pending absence holds once the value in `scope` is chosen too."""
    ranges = _allowed(binding.union(_chain(scope)))
    return not any(_any_in(positions.get(waiting, []), ranges) for waiting in pending)
