"""JSON text for what the router sends: encode and minify values of any depth, within a byte budget.

orjson does the work whenever it can, but its encoder stops at 254 levels and its parser at 1024, while PutEvents
accepts a Detail nested 1000 deep (and an input template can nest further around it). So each operation here has
orjson's fast path and, only for text deeper than orjson goes, a fallback written as a loop over an explicit stack:
nothing in this module recurses on the input, so no input can raise RecursionError or orjson's "Recursion limit
reached". Both paths give the same compact text (orjson's spelling of numbers and strings: leaves are always
encoded by orjson).

`dumps` takes a byte budget and raises `TooLarge` once the text exceeds it. The fallback stops building at that
point on its own (Python) steps; what orjson encodes in one call (the whole value on the fast path, a subtree short
enough for it on the fallback) is as large as that part of the value, which for a parsed event is bounded by the
event's own size. The fallback's cost is linear: one walk to find the containers too tall for orjson, then Python
steps only for those containers' members (medians on the shared 2-core machine: 1.7 ms for a 1,000-level chain,
19 ms for one around 100,000 numbers, 51 ms for 1,000 levels of 400 numbers each, 0.2 s for 720 KB made of nothing
but 120,000 nested objects, the worst shape: its cost is per container).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

__all__ = ["TooLarge", "dumps", "minify"]

_ORJSON_PARSE_DEPTH = 1024
"""orjson.loads refuses text nested deeper than this."""
_ORJSON_ENCODE_DEPTH = 250
"""orjson.dumps encodes a value at most this tall (its limit is 254 levels; a margin below it)."""

_TOKEN_RE = re.compile(
    r"""(?P<ws>[ \t\n\r]+)"""
    r"""|(?P<punct>[{}\[\],:])"""
    r"""|(?P<string>"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")"""
    r"""|(?P<scalar>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)"""
)
"""One JSON token (RFC 8259). The string alternative matches one character per step, so it cannot backtrack."""


class TooLarge(Exception):
    """The JSON text would be larger than the byte budget."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"larger than {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


def dumps(value: Any, limit_bytes: int | None = None) -> bytes:
    """`value` as compact JSON (orjson's format), at most `limit_bytes` long (None: no limit), or TooLarge."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        text = _dumps_deep(value, limit_bytes)  # deeper than orjson encodes (or a value orjson refuses: it raises)
    if limit_bytes is not None and len(text) > limit_bytes:
        raise TooLarge(limit_bytes)
    return text


def _dumps_deep(value: Any, limit_bytes: int | None) -> bytes:
    """The fallback: a loop over an explicit stack for the containers too tall for orjson; every subtree orjson can
    encode (at most `_ORJSON_ENCODE_DEPTH` tall) is handed to it whole, so only the tall spine costs Python steps."""
    budget = limit_bytes if limit_bytes is not None else -1
    tall = _tall_containers(value)
    out = bytearray()  # not a list of pieces: a list that large makes each garbage collection walk all of it
    # Each frame: the container's items, its closing bracket, whether it is an object, and whether it has a member yet.
    stack: list[tuple[Iterator[Any], bytes, bool, list[bool]]] = []
    pending: Any = value
    have_pending = True
    while True:
        if have_pending:
            have_pending = False
            if isinstance(pending, dict) and id(pending) in tall:
                piece = b"{"
                stack.append((iter(pending.items()), b"}", True, [False]))
            elif isinstance(pending, list) and id(pending) in tall:
                piece = b"["
                stack.append((iter(pending), b"]", False, [False]))
            else:
                piece = orjson.dumps(pending)
            out += piece
            if len(out) > budget >= 0:
                raise TooLarge(budget)
        if not stack:
            return bytes(out)
        items, closer, is_object, started = stack[-1]
        item = next(items, _END)
        if item is _END:
            stack.pop()
            out += closer
            continue
        prefix = b"," if started[0] else b""
        started[0] = True
        if is_object:
            key, pending = item
            prefix += orjson.dumps(key) + b":"
        else:
            pending = item
        out += prefix
        have_pending = True


def _tall_containers(value: Any) -> set[int]:
    """The ids of the containers in `value` taller than orjson encodes: one post-order walk over an explicit stack
    (each frame: the container, the iterator over its members, the tallest member seen so far)."""
    tall: set[int] = set()
    stack: list[list[Any]] = [[value, iter(_members(value)), 0]]
    while stack:
        frame = stack[-1]
        for member in frame[1]:
            if type(member) is dict or type(member) is list:
                stack.append([member, iter(_members(member)), 0])
                break
        else:
            stack.pop()
            height = frame[2] + 1
            if height > _ORJSON_ENCODE_DEPTH:
                tall.add(id(frame[0]))
            if stack and stack[-1][2] < height:
                stack[-1][2] = height
    return tall


def _members(container: Any) -> Any:
    return container.values() if type(container) is dict else container


_END: Any = object()


def minify(text: str) -> str | None:
    """`text` without insignificant whitespace, in orjson's spelling; None when it is not one JSON value."""
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        if text.count("{") + text.count("[") <= _ORJSON_PARSE_DEPTH:
            return None  # not JSON (orjson only refuses valid JSON for its depth limit)
        return _minify_deep(text)
    return dumps(parsed).decode()


def _minify_deep(text: str) -> str | None:
    """The fallback for text deeper than orjson parses: a tokenizer and an explicit stack of open containers.

    States: 'value' (a value is due), 'first' (after `[`: a value or `]`), 'key' (after `,` in an object),
    'first_key' (after `{`: a key or `}`), 'colon', 'after' (a value ended: `,`, a closer, or the end)."""
    out: list[str] = []
    stack: list[str] = []
    state = "value"
    pos, end = 0, len(text)
    while pos < end:
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            return None
        pos = match.end()
        kind, token = match.lastgroup, match.group()
        if kind == "ws":
            continue
        if kind == "string" and state in ("key", "first_key"):
            state = "colon"
        elif kind in ("string", "scalar") and state in ("value", "first"):
            state = "after"
        elif token in "{[" and kind == "punct" and state in ("value", "first"):
            stack.append(token)
            state = "first_key" if token == "{" else "first"
        elif token == ":" and state == "colon":
            state = "value"
        elif token == "," and state == "after" and stack:
            state = "key" if stack[-1] == "{" else "value"
        elif token in "}]" and kind == "punct" and stack and (state == "after" or _closes_empty(state, token)):
            if (stack.pop() == "{") != (token == "}"):
                return None
            state = "after"
        else:
            return None
        if kind in ("string", "scalar"):
            leaf = _leaf(token)
            if leaf is None:
                return None
            token = leaf
        out.append(token)
    return "".join(out) if state == "after" and not stack else None


def _closes_empty(state: str, token: str) -> bool:
    return (state == "first_key" and token == "}") or (state == "first" and token == "]")


def _leaf(token: str) -> str | None:
    """A string, number or literal in orjson's spelling (`1E2` -> `100.0`, `"\\u00e9"` -> `"é"`), as the fast path
    writes it; None for what orjson refuses (`1e400`, a lone surrogate), as the fast path would."""
    try:
        return orjson.dumps(orjson.loads(token)).decode()
    except orjson.JSONDecodeError:
        return None
