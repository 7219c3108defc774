"""`Machine`: all of a bus's rules compiled into one automaton, swapped whole on every change.

Each sub-rule (a rule, or one `$or` branch of it) is a sequence of *predicates* — a field path and its set of
alternative matchers — ordered by the path's segments (`parser._predicate_order`), so the fields below one prefix
are consecutive, which the array-consistent walk relies on. All sequences share one trie: rules with the same
leading predicates share states, and a state keeps, per field, one `FieldIndex` over all its outgoing edges. Matching
walks the trie from the root: at each state, for each field it has edges on, the event's value(s) for that field
are looked up once in that field's index, which answers with an interned `Hit` (the names of the states reached,
and those of them with further edges). The cost follows the event's used fields and the states reached, not the
number of rules. The sorted answer is memoised per snapshot keyed by the tuple of hits that hold names, so it is
built and sorted once per distinct combination (`_Snapshot.answer`, which stops memoising when combinations do not
repeat); every cache is bounded.

Events are parsed with orjson once and flattened only along used paths. Without arrays on those paths the walk
needs no bookkeeping (`flatten_simple`, `_walk_simple`, or after a snapshot's warm-up the straight-line code
`_specialise.py` generates for it); otherwise the array-consistent walk of `_arrays.py` decides, in time linear in
the event's size (each value carries its array element, and a walk state only the last value chosen).

Writers (`add_rule`, `delete_rule`) change a private build trie under a lock and mark the states they touched and,
in each, the fields leading to them; the next reader recompiles only those states, and in them only those fields'
indexes (reusing all others), into a new immutable snapshot and swaps one reference, so a concurrent
`matches_for_event` always sees a complete, consistent snapshot, and a change costs what the fields it touches
hold, not what the whole Machine holds. `snapshot()` hands that compiled version out as a `Snapshot`, so one thread
can change and compile while others match.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final

import orjson

from patterns._arrays import flatten_arrays, flatten_single, walk, walk_aliased, walk_single
from patterns._fieldindex import FieldIndex, Hit, Matcher
from patterns._specialise import Fast, generate
from patterns.errors import InvalidEvent
from patterns.flatten import (
    NeedsExactNumbers,
    PathTree,
    build_path_tree,
    flatten_simple,
)
from patterns.numbers import Key, number_key
from patterns.parser import Predicate, RuleSequence, compile_pattern

MAX_EVENT_DEPTH: Final = 1000
"""How deep an event's values may nest below its top-level object: an envelope whose Detail is `MAX_EVENT_DEPTH`
deep (the most PutEvents accepts) matches; one level more is `InvalidEvent`. The top-level object does not count."""
_DEPTH_LIMIT: Final = MAX_EVENT_DEPTH + 1
"""The same bound counted with the top-level object at depth 1 (as `_depth_exceeds` counts)."""
SPECIALISE_AFTER: Final = 16
"""Events a snapshot serves through the general path before its straight-line code is generated (0: at once), so a
one-off Machine (`matches`, TestEventPattern) never pays for code generation."""
ANSWER_MEMO_LIMIT: Final = 8192
"""Distinct answers remembered per snapshot (keyed by the hits that made them); cleared when full."""
_TOO_DEEP: Final = f"Event nesting is deeper than {MAX_EVENT_DEPTH}"
_QUICK_DEPTH_LEVELS: Final = 64
_QUICK_DEPTH_WIDTH: Final = 100_000
_RECURSION_LIMIT_LOCK: Final = threading.Lock()

Edge = tuple[str, dict[Key, "Hit[_Node]"], Callable[[Key], "Hit[_Node]"], "Hit[_Node]", "Hit[_Node] | None"]
"""One field of a state: its path, its index's `known` and `lookup`, the hit when the event lacks the field, and
the index's `default` (set when `known.get(key, default)` is the whole answer)."""


class _Node:
    """An immutable state: the rules that match on reaching it, and its outgoing edges grouped by field."""

    __slots__ = ("edges", "names")

    def __init__(self, names: tuple[str, ...], edges: tuple[Edge, ...]) -> None:
        self.names = names
        self.edges = edges


class _BuildNode:
    """A mutable state of the writers' trie; `frozen` caches its compiled `_Node` until it changes.

    Children are kept by predicate and grouped by path; `edges` caches the compiled edge of each path and `dirty`
    names the paths whose edge a change below made stale, so recompiling a state rebuilds only those fields'
    indexes (a change to one rule of a state with 10,000 edges rebuilds the one field the rule is on).
    """

    __slots__ = ("by_path", "children", "dirty", "edges", "frozen", "names")

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.children: dict[Predicate, _BuildNode] = {}
        self.by_path: dict[str, dict[Predicate, _BuildNode]] = {}
        self.edges: dict[str, Edge] = {}
        self.dirty: set[str] = set()
        self.frozen: _Node | None = None

    def child(self, predicate: Predicate) -> _BuildNode:
        """The child through `predicate` (created if new), its path marked dirty: the caller is changing it."""
        child = self.children.get(predicate)
        if child is None:
            child = self.children[predicate] = _BuildNode()
            self.by_path.setdefault(predicate[0], {})[predicate] = child
        self.dirty.add(predicate[0])
        self.frozen = None
        return child

    def prune(self, predicate: Predicate) -> None:
        """Drops the child through `predicate` (left without rules or edges)."""
        del self.children[predicate]
        siblings = self.by_path[predicate[0]]
        del siblings[predicate]
        if not siblings:
            del self.by_path[predicate[0]]
        self.dirty.add(predicate[0])
        self.frozen = None

    def freeze(self) -> _Node:
        """The compiled state, compiling this state and every changed state below it (children first, with an
        explicit stack: a trie is as deep as its longest sub-rule). Only the children on dirty paths can have
        changed, and only their fields' indexes are rebuilt."""
        if self.frozen is not None:
            return self.frozen
        stack: list[tuple[_BuildNode, bool]] = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if node.frozen is not None:
                continue
            if not children_done:
                stack.append((node, True))
                for path in node.dirty:
                    children = node.by_path.get(path)
                    if children is not None:
                        stack.extend((child, False) for child in children.values() if child.frozen is None)
                continue
            for path in node.dirty:
                children = node.by_path.get(path)
                if children is None:
                    node.edges.pop(path, None)
                    continue
                entries: list[tuple[Matcher, _Node]] = []
                for (_, matchers), child in children.items():
                    target = _frozen(child)
                    if len(matchers) == 1:
                        entries.extend((m, target) for m in matchers)
                    else:
                        entries.extend((m, target) for m in sorted(matchers, key=repr))
                index = FieldIndex(entries)
                node.edges[path] = (path, index.known, index.lookup, index.absent, index.default)
            node.dirty.clear()
            node.frozen = _Node(tuple(sorted(node.names)), tuple(node.edges[path] for path in sorted(node.edges)))
        return _frozen(self)


def _frozen(node: _BuildNode) -> _Node:
    assert node.frozen is not None
    return node.frozen


class _Answers:
    """A snapshot's memo of sorted answers (see `_Answers.answer`), apart from the snapshot so that the generated
    code, which calls `answer`, holds no reference back to the snapshot that holds it (compiled state is acyclic)."""

    __slots__ = ("answers", "memo_hits", "memoise", "unique")

    def __init__(self, unique: bool) -> None:
        self.unique = unique
        """No rule name sits on two states, so a walk without arrays (each state reached once) never repeats one."""
        self.answers: dict[tuple[Hit[_Node], ...], list[str]] = {}
        self.memoise = True
        self.memo_hits = 0
        """Answers served from the memo since it was last cleared."""

    def answer(self, hits: list[Hit[_Node]]) -> list[str]:
        """The sorted names of the hits, each once.

        Answers are memoised keyed by the tuple of hits, so a combination is merged and sorted once. When the
        memo does not pay (over one fill of `ANSWER_MEMO_LIMIT` entries it answered fewer events than it missed,
        as when nearly every event matches its own combination of ranges and exact keys), the snapshot stops
        memoising: a miss costs the tuple, the probe, the store and the periodic clear on top of the sort.
        """
        if not hits:
            return []
        if len(hits) == 1:
            return list(hits[0].names)
        if not self.memoise:
            return self._merge(hits)
        key = tuple(hits)
        answers = self.answers
        answer = answers.get(key)
        if answer is not None:
            self.memo_hits += 1
            return answer.copy()
        answer = self._merge(hits)
        if len(answers) >= ANSWER_MEMO_LIMIT:
            answers.clear()
            if self.memo_hits < ANSWER_MEMO_LIMIT:
                self.memoise = False
                return answer
            self.memo_hits = 0
        answers[key] = answer
        return answer.copy()

    def _merge(self, hits: list[Hit[_Node]]) -> list[str]:
        answer: list[str] = []
        for hit in hits:
            answer += hit.names
        if self.unique:
            answer.sort()
            return answer
        return sorted(set(answer))


class _Snapshot:
    """One compiled, immutable version of the rules, with its memo of answers (see `Machine.matches_for_event`).

    Nothing in it refers back to it (no bound method of its own is stored, the generated code sees only the
    `_Answers`), so a replaced snapshot is freed by reference counting, without the cyclic garbage collector:
    the router can keep compiled state out of the collector's reach (`gc.freeze`, router.matchers)."""

    __slots__ = ("_lcps", "fast", "memo", "root", "tree", "warmup")

    def __init__(self, root: _Node, tree: PathTree, unique: bool) -> None:
        self.root = root
        self.tree = tree
        self.memo = _Answers(unique)
        self._lcps: dict[tuple[str, str], int] = {}
        self.fast: Fast = _general
        """Flatten + first-level walk as straight-line code for this snapshot (`_specialise.py`); `_general` =
        always the general path (also during the warm-up)."""
        self.warmup = SPECIALISE_AFTER
        """Events still to serve through the general path before the straight-line code is generated (0: done)."""
        if self.warmup <= 0:
            self._specialise()

    def lcp(self, a: str, b: str) -> int:
        """Path segments `a` and `b` share at their start (memoised; the pairs are pairs of rule paths)."""
        key = (a, b)
        shared = self._lcps.get(key)
        if shared is None:
            shared = 0
            for x, y in zip(a.split("."), b.split("."), strict=False):
                if x != y:
                    break
                shared += 1
            if len(self._lcps) >= ANSWER_MEMO_LIMIT:
                self._lcps.clear()
            self._lcps[key] = shared
        return shared

    def warm(self) -> None:
        """Counts one of the snapshot's first events (served by the general path); then installs the generated
        code."""
        self.warmup -= 1
        if self.warmup <= 0:
            self._specialise()

    def specialise_now(self) -> None:
        """Generate the straight-line code now (if the snapshot has not yet)."""
        if self.warmup > 0:
            self._specialise()

    def _specialise(self) -> None:
        self.warmup = 0
        fast = generate(self.tree, self.root.edges, _walk_simple, self.memo.answer) if self.root.edges else None
        self.fast = _general if fast is None else fast


def _general(event: dict[str, Any], raw: str | bytes | None) -> None:
    """The `fast` of a snapshot without generated code: always the general path."""
    return


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not valid JSON")


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether a container sits deeper than `limit` (the root is at depth 1).

    First a quick bound in C: `gc.get_referents` of one level gives the next one (scalars have no referents, so
    they drop out). Every dict or list of the event is in that graph at its own depth, so if the graph ends within
    the limit so does the event. Otherwise (very deep, very wide or holding other objects) the exact walk decides.
    """
    level: Any = [value]
    for _ in range(min(limit, _QUICK_DEPTH_LEVELS)):
        level = gc.get_referents(*level)
        if not level:
            return False
        if len(level) > _QUICK_DEPTH_WIDTH:
            break
    return _depth_exceeds_exact(value, limit)


def _depth_exceeds_exact(value: Any, limit: int) -> bool:
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
    kind = event.__class__
    if kind is not bytes and kind is not str:
        if isinstance(event, dict):
            if _depth_exceeds(event, _DEPTH_LIMIT):
                raise InvalidEvent(_TOO_DEEP)
            return event, None
        if not isinstance(event, str | bytes):
            raise InvalidEvent("Event must be a JSON object")
    text: str | bytes = event  # type: ignore[assignment]  # (narrowed by the class tests above)
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # orjson's own bound (1,024) is past ours
            raise InvalidEvent(_TOO_DEEP) from None
        if "infinity" not in str(exc):
            raise InvalidEvent(f"Event is not valid JSON: {exc}") from None
        parsed = _load_exact(text)
    if parsed.__class__ is not dict and not isinstance(parsed, dict):
        raise InvalidEvent("Event must be a JSON object")
    # Depth d takes d opening and d closing brackets, so short text cannot be too deep: no count, no walk. Longer
    # text is counted in C, and only text opening more than the bound is walked.
    if len(text) > 2 * _DEPTH_LIMIT and _brackets(text) > _DEPTH_LIMIT and _depth_exceeds(parsed, _DEPTH_LIMIT):
        raise InvalidEvent(_TOO_DEEP)
    return parsed, text


def _brackets(text: str | bytes) -> int:
    """How many objects and arrays the text opens (a bound on its depth, counted in C)."""
    if isinstance(text, str):
        return text.count("{") + text.count("[")
    return text.count(b"{") + text.count(b"[")


def _load_exact(text: str | bytes) -> Any:
    """Parses keeping number text, for events that may hold numbers a double cannot hold exactly.

    The standard library's decoder recurses in C once per nesting level against Python's recursion limit, so an
    event nested within `MAX_EVENT_DEPTH` could still fail when the caller's own stack is deep. The limit is raised
    by `MAX_EVENT_DEPTH` (plus slack) for the call: the depth is bounded by that, and deeper text is refused with
    the same error as everywhere else.
    """
    with _RECURSION_LIMIT_LOCK:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + _DEPTH_LIMIT + 64)
        try:
            return json.loads(text, parse_float=number_key, parse_int=number_key, parse_constant=_reject_constant)
        except RecursionError:
            raise InvalidEvent(_TOO_DEEP) from None
        except ValueError as exc:
            raise InvalidEvent(f"Event is not valid JSON: {exc}") from None
        finally:
            sys.setrecursionlimit(limit)


def _walk_simple(node: _Node, fields: dict[str, Key], hits: list[Hit[_Node]]) -> None:
    """Collects the hits that hold names; without arrays each state is reached at most once (explicit stack)."""
    stack = [node]
    while stack:
        for path, known, lookup, absent, default in stack.pop().edges:
            key = fields.get(path)
            if key is None:
                hit = absent
            elif default is not None:
                hit = known.get(key, default)
            else:
                hit = known.get(key) or lookup(key)
            if hit.names:
                hits.append(hit)
            if hit.deeper:
                stack.extend(hit.deeper)


class Machine:
    """A set of named rules compiled into one automaton; `matches_for_event` names the rules an event matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, list[RuleSequence]] = {}
        self._root = _BuildNode()
        self._paths: dict[str, int] = {}
        """How many sub-rules read each path."""
        self._tree: PathTree | None = build_path_tree(set())
        """The used-path tree of `_paths`; None when a path came or went since it was built."""
        self._repeated = 0
        """Rules holding more than one sub-rule (so a name can sit on two states)."""
        self._snapshot = _Snapshot(self._root.freeze(), self._tree, True)
        self._stale = False

    def add_rule(self, name: str, pattern: str | bytes | dict[str, Any]) -> None:
        """Adds a rule (JSON text or a parsed dict); adding a name again ORs the new pattern with the old."""
        new = compile_pattern(pattern)
        with self._lock:
            self._add(name, new)

    def add_rules(self, rules: Iterable[tuple[str, str | bytes | dict[str, Any]]]) -> None:
        """Adds many rules; all are validated first, so either all are added or none."""
        compiled = [(name, compile_pattern(pattern)) for name, pattern in rules]
        with self._lock:
            for name, new in compiled:
                self._add(name, new)

    def delete_rule(self, name: str) -> bool:
        """Removes a rule and all its patterns; returns whether it existed."""
        with self._lock:
            removed = self._rules.pop(name, None)
            if removed is None:
                return False
            self._repeated -= len(removed) > 1
            for sequence in removed:
                self._remove(name, sequence)
            return True

    def rule_names(self) -> list[str]:
        """The names of the rules, sorted."""
        with self._lock:
            return sorted(self._rules)

    def matches_for_event(self, event: str | bytes | dict[str, Any]) -> list[str]:
        """The sorted names of the rules the event matches (JSON text or a parsed dict)."""
        return _matches(self._current() if self._stale else self._snapshot, event)

    def snapshot(self, *, specialise: bool = False) -> Snapshot:
        """The rules as they are now, compiled into an immutable `Snapshot` that later changes to the Machine do not
        touch: compile and change on one thread, match on others. `specialise` generates the straight-line code
        at once (`_specialise.py`) instead of after the snapshot's first events, so it is paid here."""
        with self._lock:
            compiled = self._recompile()
        if specialise:
            compiled.specialise_now()
        return Snapshot(compiled)

    # -- writers --------------------------------------------------------------------------------------------
    def _add(self, name: str, new: list[RuleSequence]) -> None:
        sequences = self._rules.setdefault(name, [])
        before = len(sequences)
        sequences.extend(new)
        self._repeated += before <= 1 < len(sequences)
        for sequence in new:
            self._insert(name, sequence)

    def _insert(self, name: str, sequence: RuleSequence) -> None:
        node = self._root
        node.frozen = None
        for predicate in sequence:
            node = node.child(predicate)
        node.frozen = None
        node.names.add(name)
        self._count_paths(sequence, 1)
        self._stale = True

    def _remove(self, name: str, sequence: RuleSequence) -> None:
        self._count_paths(sequence, -1)  # each inserted copy counted its paths, an identical one too
        trail = [self._root]
        for predicate in sequence:
            child = trail[-1].children.get(predicate)
            if child is None:
                return  # an identical sequence of this rule was already removed
            trail.append(child)
        trail[-1].names.discard(name)
        trail[-1].frozen = None
        for depth, predicate in enumerate(sequence):
            trail[depth].child(predicate)  # marks the path to the changed state dirty
        # Prune the states this sequence leaves without rules or edges, deepest first.
        for depth in range(len(sequence) - 1, -1, -1):
            child = trail[depth + 1]
            if child.names or child.children:
                break
            trail[depth].prune(sequence[depth])
        self._stale = True

    def _count_paths(self, sequence: RuleSequence, delta: int) -> None:
        """Keeps the count of sub-rules reading each path; the used-path tree is rebuilt only when a path comes
        or goes."""
        paths = self._paths
        for path, _ in sequence:
            count = paths.get(path, 0) + delta
            if count > 0:
                paths[path] = count
            else:
                paths.pop(path, None)
            if count in (0, 1):
                self._tree = None

    def _current(self) -> _Snapshot:
        if not self._stale:
            return self._snapshot
        with self._lock:
            return self._recompile()

    def _recompile(self) -> _Snapshot:
        """The snapshot, recompiled from the changed states if a writer touched any (the caller holds the lock)."""
        if self._stale:
            if self._tree is None:
                self._tree = build_path_tree(set(self._paths))
            unique = self._repeated == 0
            self._snapshot = _Snapshot(self._root.freeze(), self._tree, unique)
            self._stale = False
        return self._snapshot


class Snapshot:
    """An immutable compiled version of a Machine's rules (`Machine.snapshot`): `matches_for_event` as the Machine
    answered when it was taken, however the Machine changes afterwards."""

    __slots__ = ("_compiled",)

    def __init__(self, compiled: _Snapshot) -> None:
        self._compiled = compiled

    def matches_for_event(self, event: str | bytes | dict[str, Any]) -> list[str]:
        """The sorted names of the rules the event matches (JSON text or a parsed dict)."""
        return _matches(self._compiled, event)


def _matches(snapshot: _Snapshot, event: str | bytes | dict[str, Any]) -> list[str]:
    parsed, raw = load_event(event)
    if snapshot.warmup:
        snapshot.warm()
    try:
        answer = snapshot.fast(parsed, raw)
        if answer is not None:
            return answer
        return _match(snapshot, parsed, raw)
    except NeedsExactNumbers:
        assert raw is not None
        return _match(snapshot, _load_exact(raw), None)


def _match(snapshot: _Snapshot, event: dict[str, Any], raw: str | bytes | None) -> list[str]:
    """The general path: `flatten_simple` + `_walk_simple`, or with arrays the array-consistent walk."""
    simple: dict[str, Key] = {}
    if flatten_simple(event, snapshot.tree, simple, raw):
        hits: list[Hit[_Node]] = []
        _walk_simple(snapshot.root, simple, hits)
        return snapshot.memo.answer(hits)
    single = flatten_single(event, snapshot.tree, raw)
    if single is not None:
        return walk_single(snapshot.root, single)
    flat = flatten_arrays(event, snapshot.tree, raw)
    if flat.aliased:
        return sorted(walk_aliased(snapshot.root, flat))
    return sorted(walk(snapshot.root, flat, snapshot.lcp))


def matches(pattern: str | bytes | dict[str, Any], event: str | bytes | dict[str, Any]) -> bool:
    """Whether one event matches one pattern (what TestEventPattern answers)."""
    machine = Machine()
    machine.add_rule("pattern", pattern)
    return bool(machine.matches_for_event(event))


def validate(pattern: str | bytes | dict[str, Any]) -> None:
    """Raises InvalidEventPattern with AWS's message if the pattern is not valid."""
    compile_pattern(pattern)
