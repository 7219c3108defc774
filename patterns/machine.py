"""`Machine`: all of a bus's rules compiled into one automaton, swapped whole on every change.

Each sub-rule (a rule, or one `$or` branch of it) is a sequence of *predicates* — a field path and its set of
alternative matchers — ordered by path, with the predicates that contain `{"exists": false}` last so that absence
is judged inside the array elements the other fields chose. All sequences share one trie: rules with the same
leading predicates share states, and a state keeps, per field, one `FieldIndex` over all its outgoing edges. Matching
walks the trie from the root: at each state, for each field it has edges on, the event's value(s) for that field
are looked up once in that field's index. The cost follows the event's used fields and the states reached, not the
number of rules.

Events are parsed with orjson once and flattened only along used paths. Without arrays on those paths the walk
needs no bookkeeping (`flatten_simple`, `_walk_simple`); otherwise each value carries its array trail and a walk
carries the array elements chosen so far (`_walk_general`), refusing values from other elements of the same array.

Writers (`add_rule`, `delete_rule`) change a private build trie under a lock and mark the states they touched;
the next reader recompiles only those states (reusing all others) into a new immutable snapshot and swaps one
reference, so a concurrent `matches_for_event` always sees a complete, consistent snapshot.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

import orjson

from patterns._fieldindex import FieldIndex, Matcher
from patterns.errors import InvalidEvent
from patterns.exists import Exists
from patterns.flatten import (
    NeedsExactNumbers,
    PathTree,
    Trail,
    build_path_tree,
    flatten_general,
    flatten_simple,
)
from patterns.numbers import Key, number_key
from patterns.parser import SubRule, compile_pattern

MAX_EVENT_DEPTH: Final = 1000

Predicate = tuple[str, frozenset[Matcher]]


def _predicate_order(predicate: Predicate) -> tuple[bool, str, str]:
    path, matchers = predicate
    has_absent = any(isinstance(m, Exists) and not m.present for m in matchers)
    return (has_absent, path, repr(sorted(map(repr, matchers))))


def sequences(sub_rules: list[SubRule]) -> list[tuple[Predicate, ...]]:
    """Each sub-rule as its ordered tuple of predicates."""
    return [
        tuple(sorted(((path, frozenset(values)) for path, values in rule.items()), key=_predicate_order))
        for rule in sub_rules
    ]


class _Node:
    """An immutable state: the rules that match on reaching it, and its outgoing edges grouped by field."""

    __slots__ = ("edges", "names")

    def __init__(self, names: tuple[str, ...], edges: tuple[tuple[str, FieldIndex[_Node]], ...]) -> None:
        self.names = names
        self.edges = edges


class _BuildNode:
    """A mutable state of the writers' trie; `frozen` caches its compiled `_Node` until it changes."""

    __slots__ = ("children", "frozen", "names")

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.children: dict[Predicate, _BuildNode] = {}
        self.frozen: _Node | None = None

    def freeze(self) -> _Node:
        if self.frozen is None:
            by_path: dict[str, list[tuple[Matcher, _Node]]] = {}
            for (path, matchers), child in self.children.items():
                target = child.freeze()
                entries = by_path.setdefault(path, [])
                entries.extend((m, target) for m in sorted(matchers, key=repr))
            edges = tuple((path, FieldIndex(entries)) for path, entries in sorted(by_path.items()))
            self.frozen = _Node(tuple(sorted(self.names)), edges)
        return self.frozen


class _Snapshot:
    __slots__ = ("root", "tree")

    def __init__(self, root: _Node, tree: PathTree) -> None:
        self.root = root
        self.tree = tree


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not valid JSON")


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def load_event(event: str | bytes | dict[str, Any]) -> tuple[dict[str, Any], str | bytes | None]:
    """The event as a dict, plus its JSON text when it was given as text; or InvalidEvent.

    JSON text is parsed with orjson. orjson's floats lose the number text, so the text comes back too: each float a
    rule looks at is checked against it (`flatten._check_float`) and the event is re-read keeping number text
    (`_load_exact`) when a float's shortest form is not what the event wrote.
    """
    if isinstance(event, dict):
        if _depth_exceeds(event, MAX_EVENT_DEPTH):
            raise InvalidEvent(f"Event nesting is deeper than {MAX_EVENT_DEPTH}")
        return event, None
    if not isinstance(event, str | bytes):
        raise InvalidEvent("Event must be a JSON object")
    try:
        parsed = orjson.loads(event)
    except orjson.JSONDecodeError as exc:
        if "infinity" not in str(exc) and "Recursion" not in str(exc):
            raise InvalidEvent(f"Event is not valid JSON: {exc}") from None
        parsed = _load_exact(event)
    if not isinstance(parsed, dict):
        raise InvalidEvent("Event must be a JSON object")
    opened = event.count("{") + event.count("[") if isinstance(event, str) else event.count(b"{") + event.count(b"[")
    if opened > MAX_EVENT_DEPTH and _depth_exceeds(parsed, MAX_EVENT_DEPTH):
        raise InvalidEvent(f"Event nesting is deeper than {MAX_EVENT_DEPTH}")
    return parsed, event


def _load_exact(text: str | bytes) -> Any:
    """Parses keeping number text, for events that may hold numbers a double cannot hold exactly."""
    try:
        return json.loads(text, parse_float=number_key, parse_int=number_key, parse_constant=_reject_constant)
    except RecursionError:
        raise InvalidEvent(f"Event nesting is deeper than {MAX_EVENT_DEPTH}") from None
    except ValueError as exc:
        raise InvalidEvent(f"Event is not valid JSON: {exc}") from None


def _walk_simple(node: _Node, fields: dict[str, Key], out: list[str]) -> None:
    for path, index in node.edges:
        key = fields.get(path)
        if key is None:
            children = index.absent
        else:
            children = index.memo.get(key) or index.lookup(key)
        for child in children:
            if child.names:
                out.extend(child.names)
            if child.edges:
                _walk_simple(child, fields, out)


def _compatible(chosen: dict[int, int], trail: Trail) -> bool:
    return all(chosen.get(array, element) == element for array, element in trail)


def _walk_general(
    node: _Node, fields: dict[str, list[tuple[Key, Trail]]], chosen: dict[int, int], out: list[str]
) -> None:
    for path, index in node.edges:
        values = fields.get(path)
        present = False
        if values:
            for key, trail in values:
                if trail and not _compatible(chosen, trail):
                    continue
                present = True
                children = index.lookup(key)
                if not children:
                    continue
                narrowed = {**chosen, **dict(trail)} if trail else chosen
                for child in children:
                    if child.names:
                        out.extend(child.names)
                    if child.edges:
                        _walk_general(child, fields, narrowed, out)
        if not present:
            for child in index.absent:
                if child.names:
                    out.extend(child.names)
                if child.edges:
                    _walk_general(child, fields, chosen, out)


class Machine:
    """A set of named rules compiled into one automaton; `matches_for_event` names the rules an event matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, list[tuple[Predicate, ...]]] = {}
        self._root = _BuildNode()
        self._paths: Counter[str] = Counter()
        self._snapshot = _Snapshot(self._root.freeze(), build_path_tree(set()))
        self._stale = False

    def add_rule(self, name: str, pattern: str | bytes | dict[str, Any]) -> None:
        """Adds a rule (JSON text or a parsed dict); adding a name again ORs the new pattern with the old."""
        new = sequences(compile_pattern(pattern))
        with self._lock:
            self._rules.setdefault(name, []).extend(new)
            for sequence in new:
                self._insert(name, sequence)

    def add_rules(self, rules: Iterable[tuple[str, str | bytes | dict[str, Any]]]) -> None:
        """Adds many rules; all are validated first, so either all are added or none."""
        compiled = [(name, sequences(compile_pattern(pattern))) for name, pattern in rules]
        with self._lock:
            for name, new in compiled:
                self._rules.setdefault(name, []).extend(new)
                for sequence in new:
                    self._insert(name, sequence)

    def delete_rule(self, name: str) -> bool:
        """Removes a rule and all its patterns; returns whether it existed."""
        with self._lock:
            removed = self._rules.pop(name, None)
            if removed is None:
                return False
            for sequence in removed:
                self._remove(name, sequence)
            return True

    def rule_names(self) -> list[str]:
        """The names of the rules, sorted."""
        with self._lock:
            return sorted(self._rules)

    def matches_for_event(self, event: str | bytes | dict[str, Any]) -> list[str]:
        """The sorted names of the rules the event matches (JSON text or a parsed dict)."""
        snapshot = self._current()
        parsed, raw = load_event(event)
        out: list[str] = []
        try:
            self._match(snapshot, parsed, raw, out)
        except NeedsExactNumbers:
            assert raw is not None
            out.clear()
            self._match(snapshot, _load_exact(raw), None, out)
        if len(out) > 1:
            return sorted(set(out))
        return out

    @staticmethod
    def _match(snapshot: _Snapshot, event: dict[str, Any], raw: str | bytes | None, out: list[str]) -> None:
        simple: dict[str, Key] = {}
        if flatten_simple(event, snapshot.tree, simple, raw):
            _walk_simple(snapshot.root, simple, out)
        else:
            _walk_general(snapshot.root, flatten_general(event, snapshot.tree, raw), {}, out)

    # -- writers --------------------------------------------------------------------------------------------
    def _insert(self, name: str, sequence: tuple[Predicate, ...]) -> None:
        node = self._root
        node.frozen = None
        for predicate in sequence:
            child = node.children.get(predicate)
            if child is None:
                child = node.children[predicate] = _BuildNode()
            node = child
            node.frozen = None
        node.names.add(name)
        self._paths.update(path for path, _ in sequence)
        self._stale = True

    def _remove(self, name: str, sequence: tuple[Predicate, ...]) -> None:
        trail = [self._root]
        for predicate in sequence:
            child = trail[-1].children.get(predicate)
            if child is None:
                return  # an identical sequence of this rule was already removed
            trail.append(child)
        trail[-1].names.discard(name)
        for node in trail:
            node.frozen = None
        # Prune the states this sequence leaves without rules or edges, deepest first.
        for depth in range(len(sequence) - 1, -1, -1):
            child = trail[depth + 1]
            if child.names or child.children:
                break
            del trail[depth].children[sequence[depth]]
        self._paths.subtract(path for path, _ in sequence)
        self._paths = +self._paths
        self._stale = True

    def _current(self) -> _Snapshot:
        if not self._stale:
            return self._snapshot
        with self._lock:
            if self._stale:
                self._snapshot = _Snapshot(self._root.freeze(), build_path_tree(set(self._paths)))
                self._stale = False
            return self._snapshot


def matches(pattern: str | bytes | dict[str, Any], event: str | bytes | dict[str, Any]) -> bool:
    """Whether one event matches one pattern (what TestEventPattern answers)."""
    machine = Machine()
    machine.add_rule("pattern", pattern)
    return bool(machine.matches_for_event(event))


def validate(pattern: str | bytes | dict[str, Any]) -> None:
    """Raises InvalidEventPattern with AWS's message if the pattern is not valid."""
    compile_pattern(pattern)
