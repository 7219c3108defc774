"""Event → the (path, value) pairs some rule uses, walking only the used-path tree on the parsed event.

`PathTree` is built from every field path the machine's rules name, split into segments at every dot: one node per
distinct path prefix, so its size is linear in the total length of the paths. The walk looks each node's segments
up in the event's dicts (`dict.get`, no iteration over the event's own keys), so subtrees no rule names are never
touched. event-ruler joins keys with `.`, so `{"a":{"b.c":1}}` and `{"a":{"b":{"c":1}}}` both give `a.b.c`: at a
node with grandchildren, an event dict whose keys hold a dot (one `"".join` and one search in C tells) has those
keys split and followed segment by segment (`dotted_targets`), time linear in the key's length.

Two walkers, both iterative (nesting costs no stack): `flatten_simple` is the fast path for the common case where
no array lies on a used path, giving `{path: key}`; it gives up (returns False) on the first array or on a dotted
key that reaches a used path (a path could then have two values). `flatten_general` records, for every value, its
array trail: the (array id, element index) pairs of the arrays it sits in, which the machine uses for array
consistency. Values are normalised to keys (`numbers.py`) on the way.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from patterns.errors import InvalidEvent
from patterns.numbers import FALSE, NULL, TRUE, Key, RawNumber, int_key

_NUMBER_CHARS: Final = "0123456789.eE+-"
_NUMBER_BYTES: Final = b"0123456789.eE+-"
_NUMBER_RUN: Final = re.compile(r"[0-9.eE+-]+")
_NUMBER_RUN_BYTES: Final = re.compile(rb"[0-9.eE+-]+")
_dumps: Final = orjson.dumps


class NeedsExactNumbers(Exception):
    """A float's text in the event may not be its shortest form: re-read the event keeping number text."""


def _float_text(value: float, as_bytes: bool) -> Any:
    """The shortest text of a float, as bytes or str.

    The shortest text is `repr(value)`. Where `repr` writes plain decimals (1e-4 <= |value| < 1e16, and zero),
    orjson's serialiser writes the same text about six times faster (both are shortest round-trip, correctly
    rounded; a white-box test holds them to it), so it is used there.
    """
    text: Any = _dumps(value) if 1e-4 <= value < 1e16 or -1e16 < value <= -1e-4 or value == 0.0 else None
    if text is None:
        text = repr(value).encode()
    return text if as_bytes else text.decode()


def _check_float(value: float, raw: str | bytes) -> int:
    """Raises NeedsExactNumbers unless the float's shortest text occurs in the raw event as a whole number token
    (a maximal run of number characters); returns how far into the text it searched. Bytes are searched as bytes.
    One check costs time linear in the text; a walk that checks many floats of one event indexes its number
    tokens once when its searches add up to a few times the text (`number_tokens`)."""
    as_bytes = raw.__class__ is bytes
    text = _float_text(value, as_bytes)
    chars: Any = _NUMBER_BYTES if as_bytes else _NUMBER_CHARS
    start = raw.find(text)
    while start >= 0:
        end = start + len(text)
        if (start == 0 or raw[start - 1] not in chars) and (end == len(raw) or raw[end] not in chars):
            return end
        start = raw.find(text, start + 1)
    raise NeedsExactNumbers


def number_tokens(raw: str | bytes) -> tuple[set[Any], bool]:
    """Every maximal run of number characters in the event text (what `_check_float` looks for), and whether
    the text is bytes: checking a float is then one set probe."""
    if raw.__class__ is bytes:
        return set(_NUMBER_RUN_BYTES.findall(raw)), True
    return set(_NUMBER_RUN.findall(raw)), False  # type: ignore[arg-type]  # (str here)


def check_float_in(value: float, tokens: tuple[set[Any], bool]) -> None:
    """`_check_float` against the tokens `number_tokens` found."""
    if _float_text(value, tokens[1]) not in tokens[0]:
        raise NeedsExactNumbers


_MISSING: Final = object()


class PathTree:
    """One level of the used-path tree: `path` if a rule uses this exact path, and the segments below it.

    `plain` lists the child segments to look up at this level (`index` is the same as a dict). `deep` is set when
    some child has children of its own: only then can an event key holding a dot (`"b.c"`) reach a used path from
    this level, so only then are the event's keys looked at (`dotted_targets`).
    """

    __slots__ = ("deep", "depth", "index", "path", "plain", "single")

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth
        """Path segments from the root to this node."""
        self.path: str | None = None
        self.index: dict[str, PathTree] = {}
        self.plain: tuple[tuple[str, PathTree], ...] = ()
        self.deep = False
        self.single = True
        """At most one used path at or below this node: an array here holds values of one path only, so array
        consistency cannot constrain it (`_arrays.flatten_single`)."""


def build_path_tree(paths: set[str]) -> PathTree:
    """The tree of used paths, split into segments at every dot: one node per distinct path prefix, built in time
    linear in the total length of the paths (no recursion, no enumeration of dotted runs)."""
    root = PathTree()
    nodes = [root]
    for path in sorted(paths):
        node = root
        for segment in path.split("."):
            child = node.index.get(segment)
            if child is None:
                child = node.index[segment] = PathTree(node.depth + 1)
                nodes.append(child)
            node = child
        node.path = path
    below: dict[int, int] = {}
    for node in reversed(nodes):  # children before their parents
        node.plain = tuple(node.index.items())
        node.deep = any(child.index for child in node.index.values())
        count = below[id(node)] = (node.path is not None) + sum(below[id(child)] for child in node.index.values())
        node.single = count <= 1
    return root


def has_dotted_key(value: dict[Any, Any]) -> bool:
    """Whether some key of an event object holds a dot (one join and one search in C)."""
    try:
        return "." in "".join(value)
    except TypeError:  # a dict event with keys that are not strings (never from JSON text)
        return any(isinstance(key, str) and "." in key for key in value)


def dotted_targets(value: dict[Any, Any], tree: PathTree) -> list[tuple[Any, PathTree]]:
    """The (value, tree node) pairs the event object's dotted keys reach below `tree`.

    event-ruler joins keys with dots, so at tree level `a` the key `"b.c"` reads the path `a.b.c`, as the nested
    keys `b` then `c` do. Each dotted key is split and followed segment by segment: time linear in the key's length.
    """
    found: list[tuple[Any, PathTree]] = []
    for key, inner in value.items():
        if not isinstance(key, str) or "." not in key:
            continue
        node: PathTree | None = tree
        for segment in key.split("."):
            assert node is not None
            node = node.index.get(segment)
            if node is None:
                break
        if node is not None:
            found.append((inner, node))
    return found


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

    That is: an array on a used path, a dotted key that reaches a used path (so a path may have two values), or a
    value of an unusual type (a dict or str subclass, say). `raw` is the event text when it may hold over-precise
    numbers; each float used is then checked against it. Iterative: nesting costs no stack.
    """
    stack: list[tuple[dict[str, Any], PathTree]] = [(event, tree)]
    while stack:
        level, node = stack.pop()
        if node.deep and has_dotted_key(level) and dotted_targets(level, node):
            return False
        for key, child in node.plain:
            value = level.get(key, _MISSING)
            if value is _MISSING:
                continue
            kind = value.__class__
            if kind is str:
                if child.path is not None:
                    out[child.path] = value
            elif kind is dict:
                if child.plain:
                    stack.append((value, child))
            elif kind is float:
                if child.path is not None:
                    if raw is not None:
                        _check_float(value, raw)
                    out[child.path] = value
            elif kind is int or kind is bool or value is None:
                if child.path is not None:
                    out[child.path] = normalise(value)
            elif child.path is not None or child.plain:
                return False
    return True
