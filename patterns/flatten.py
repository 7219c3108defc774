"""Event → the (path, value) pairs some rule uses, walking only the used-path tree on the parsed event.

`PathTree` is built from every field path the machine's rules name. Each tree node lists the keys to look up in
the event object at that level: single segments (`detail`) and dotted runs of segments (`detail.state`), because
event-ruler joins keys with `.`, so `{"a":{"b.c":1}}` and `{"a":{"b":{"c":1}}}` both give `a.b.c`. The walk
looks those keys up in the event's dicts (`dict.get`, no iteration over the event's own keys), so subtrees no rule
names are never touched.

Two walkers: `flatten_simple` is the fast path for the common case where no array lies on a used path, giving
`{path: key}`; it gives up (returns False) on the first array or repeated path. `flatten_general` records, for
every value, its array trail: the (array id, element index) pairs of the arrays it sits in, which the machine
uses for array consistency. Values are normalised to keys (`numbers.py`) on the way.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from patterns.errors import InvalidEvent
from patterns.numbers import FALSE, NULL, TRUE, Key, RawNumber, int_key

Trail = tuple[tuple[int, int], ...]
_NUMBER_CHARS: Final = "0123456789.eE+-"
_NUMBER_BYTES: Final = b"0123456789.eE+-"
_dumps: Final = orjson.dumps


class NeedsExactNumbers(Exception):
    """A float's text in the event may not be its shortest form: re-read the event keeping number text."""


def _check_float(value: float, raw: str | bytes) -> None:
    """Raises NeedsExactNumbers unless the float's shortest text occurs in the raw event as a whole number token.

    The shortest text is `repr(value)`. Where `repr` writes plain decimals (1e-4 <= |value| < 1e16, and zero),
    orjson's serialiser writes the same text about six times faster (both are shortest round-trip, correctly
    rounded; a white-box test holds them to it), so it is used there. Bytes are searched as bytes.
    """
    text: Any = _dumps(value) if 1e-4 <= value < 1e16 or -1e16 < value <= -1e-4 or value == 0.0 else None
    if text is None:
        text = repr(value).encode()
    chars: Any = _NUMBER_BYTES
    if raw.__class__ is not bytes:
        chars = _NUMBER_CHARS
        text = text.decode()
    start = raw.find(text)
    while start >= 0:
        end = start + len(text)
        if (start == 0 or raw[start - 1] not in chars) and (end == len(raw) or raw[end] not in chars):
            return
        start = raw.find(text, start + 1)
    raise NeedsExactNumbers


_MISSING: Final = object()
_END: Final = object()  # marks the end of a used path in the nested build dict (no string can collide)


class PathTree:
    """One level of the used-path tree: `path` if a rule uses this exact path, and the keys below it.

    `children` has every key to look up at this level, single segments and dotted runs; `plain` only the single
    segments, and `dotted` the set of dotted runs (an event dict holding none of them needs only `plain`).
    """

    __slots__ = ("children", "dotted", "path", "plain")

    def __init__(self) -> None:
        self.path: str | None = None
        self.children: tuple[tuple[str, PathTree], ...] = ()
        self.plain: tuple[tuple[str, PathTree], ...] = ()
        self.dotted: frozenset[str] = frozenset()


def build_path_tree(paths: set[str]) -> PathTree:
    """The tree of used paths, with every dotted run of segments as an extra key."""
    nested: dict[Any, Any] = {}
    for path in paths:
        node = nested
        for segment in path.split("."):
            node = node.setdefault(segment, {})
        node[_END] = path

    def build(level: dict[Any, Any]) -> PathTree:
        tree = PathTree()
        tree.path = level.get(_END)
        built = {segment: build(child) for segment, child in level.items() if segment is not _END}
        children: list[tuple[str, PathTree]] = []

        def add_runs(prefix: str, segment_level: dict[Any, Any], subtree: PathTree) -> None:
            children.append((prefix, subtree))
            for segment, child in segment_level.items():
                if segment is not _END:
                    grandchild = dict(subtree.children)[segment]
                    add_runs(f"{prefix}.{segment}", child, grandchild)

        for segment, child in level.items():
            if segment is not _END:
                add_runs(segment, child, built[segment])
        tree.children = tuple(children)
        tree.plain = tuple((key, child) for key, child in children if "." not in key)
        tree.dotted = frozenset(key for key, _ in children if "." in key)
        return tree

    return build(nested)


def normalise(value: Any) -> Key:
    """The key of one leaf value."""
    kind = type(value)
    if kind is str or kind is float:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return TRUE if value else FALSE
    if value is None:
        return NULL
    if kind is int:
        return int_key(value)
    if kind is RawNumber:
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return TRUE if value else FALSE
    if isinstance(value, int):
        return int_key(int(value))
    if isinstance(value, float):
        return float(value)
    raise InvalidEvent(f"Event value of type {kind.__name__} is not a JSON value")


def flatten_simple(event: dict[str, Any], tree: PathTree, out: dict[str, Key], raw: str | bytes | None = None) -> bool:
    """Fills `out` with `{path: key}`; returns False if `flatten_general` is needed.

    That is: an array on a used path, a dotted key that a rule path could also read through nested objects (so a
    path may have two values), or a value of an unusual type (a dict or str subclass, say). `raw` is the event
    text when it may hold over-precise numbers; each float used is then checked against it.
    """
    if tree.dotted and not event.keys().isdisjoint(tree.dotted):
        return False
    for key, child in tree.plain:
        value = event.get(key, _MISSING)
        if value is _MISSING:
            continue
        kind = value.__class__
        if kind is str:
            if child.path is not None:
                out[child.path] = value
        elif kind is dict:
            if child.children and not flatten_simple(value, child, out, raw):
                return False
        elif kind is float:
            if child.path is not None:
                if raw is not None:
                    _check_float(value, raw)
                out[child.path] = value
        elif kind is int or kind is bool or value is None:
            if child.path is not None:
                out[child.path] = normalise(value)
        elif child.path is not None or child.children:
            return False
    return True


def flatten_general(
    event: dict[str, Any], tree: PathTree, raw: str | bytes | None = None
) -> dict[str, list[tuple[Key, Trail]]]:
    """`{path: [(key, trail), ...]}` for every used leaf, arrays included (iterative, so depth is no risk)."""
    out: dict[str, list[tuple[Key, Trail]]] = {}
    arrays = 0
    stack: list[tuple[Any, PathTree, Trail]] = [(event, tree, ())]
    while stack:
        value, node, trail = stack.pop()
        kind = type(value)
        if kind is dict or isinstance(value, dict):
            for key, child in node.children:
                inner = value.get(key, _MISSING)
                if inner is not _MISSING:
                    stack.append((inner, child, trail))
        elif kind is list or isinstance(value, list):
            arrays += 1
            stack.extend((element, node, (*trail, (arrays, index))) for index, element in enumerate(value))
        elif node.path is not None:
            if kind is float and raw is not None:
                _check_float(value, raw)
            out.setdefault(node.path, []).append((normalise(value), trail))
    return out
