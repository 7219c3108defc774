"""Straight-line Python, generated per compiled snapshot, for the common event shape: flatten plus first-level walk.

The general matcher (`flatten_simple` then `_walk_simple`) interprets the used-path tree and the root state's edges
for every event: a loop over tree nodes, a recursive call per nested object, a `{path: value}` dict, then a loop
over the root's edges probing that dict. All of that is fixed for one snapshot, so when the snapshot is built we
generate one function (`exec`, as `dataclasses` and `namedtuple` do) that reads the used keys with one `dict.get`
each into local variables, normalises them inline, and probes each root edge's index straight from those locals.
Only when a root hit leads to deeper states is a `{path: value}` dict built (one constant-key dict display) for
the general walk below the first level.

The generated function answers `None` whenever the fast path does not apply (an array or an unusual type on a used
path, a dotted key a rule path could also read through nested objects), and the caller then takes the general path,
so it decides exactly what `flatten_simple` + `_walk_simple` decide. Event keys, paths and index objects enter the
generated code only through a tuple of constants unpacked into closure variables; the source text holds nothing
but identifiers this module makes up (`k3`, `f7`, ...), so no rule text can inject code. Trees too wide or too
deep for straight-line code (`MAX_PATHS`, `MAX_DEPTH`) are not specialised; the general path serves them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from patterns.flatten import PathTree, _check_float, dotted_targets, has_dotted_key
from patterns.numbers import FALSE, NULL, TRUE, int_key

MAX_PATHS: Final = 256
"""Used paths above which no straight-line function is generated (its source would grow with the rule set)."""
MAX_DEPTH: Final = 24
"""Used-path nesting above which no straight-line function is generated (each level indents the source)."""

Fast = Callable[[dict[str, Any], "str | bytes | None"], "list[str] | None"]
"""The generated matcher: the sorted matched names, or None when the general path must decide."""


Edge = tuple[str, dict[Any, Any], Callable[[Any], Any], Any, Any]
"""One field of the root state (`machine.Edge`): path, known hits, lookup, absent hit, default hit of a known miss."""


def _depth(tree: PathTree) -> int:
    """Levels of the used-path tree (iterative: the tree may be as deep as a path is long)."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for _, child in node.plain)
    return deepest


class _Source:
    """Accumulates generated lines and the constants they refer to by made-up names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: list[str] = []
        self.values: list[Any] = []
        self.fields: dict[str, str] = {}

    def const(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names.append(name)
        self.values.append(value)
        return name

    def field(self, path: str) -> str:
        if path not in self.fields:
            self.fields[path] = f"f{len(self.fields)}"
        return self.fields[path]

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


def _flatten_level(src: _Source, tree: PathTree, var: str, indent: int, level: int) -> None:
    """Code reading one event object `var` along the used-path tree (what `flatten_simple` does for it)."""
    if tree.deep:
        node = src.const("t", tree)
        src.emit(indent, f"if has_dot({var}) and dotted({var}, {node}):")
        src.emit(indent + 1, "return None")
    value, kind = f"v{level}", f"c{level}"
    for key, child in tree.plain:
        k = src.const("k", key)
        src.emit(indent, f"{value} = {var}.get({k})")
        src.emit(indent, f"if {value} is not None:")
        src.emit(indent + 1, f"{kind} = {value}.__class__")
        branches: list[tuple[str, list[tuple[int, str]] | None]] = []
        leaf = child.path is not None
        f = src.field(child.path) if child.path is not None else ""
        string = [(0, f"{f} = {value}")] if leaf else None
        number = [(0, f"if raw is not None: check({value}, raw)"), (0, f"{f} = {value}")] if leaf else None
        integer = [(0, f"{f} = int_key({value})")] if leaf else None
        boolean = [(0, f"{f} = TRUE if {value} else FALSE")] if leaf else None
        nested: list[tuple[int, str]] | None = [] if child.plain else None
        if leaf:
            branches += [(f"{kind} is str", string), (f"{kind} is float", number)]
            branches += [(f"{kind} is int", integer), (f"{kind} is bool", boolean), (f"{kind} is dict", nested)]
        else:
            branches += [(f"{kind} is dict", nested), (f"{kind} is str", None), (f"{kind} is float", None)]
            branches += [(f"{kind} is int", None), (f"{kind} is bool", None)]
        for number_of, (test, body) in enumerate(branches):
            src.emit(indent + 1, f"{'if' if number_of == 0 else 'elif'} {test}:")
            if body is None or (test.endswith("dict") and nested is None):
                src.emit(indent + 2, "pass")
            elif test.endswith("dict"):
                _flatten_level(src, child, value, indent + 2, level + 1)
            else:
                for extra, line in body:
                    src.emit(indent + 2 + extra, line)
        src.emit(indent + 1, "else:")
        src.emit(indent + 2, "return None")
        if leaf:
            src.emit(indent, f"elif {k} in {var}:")
            src.emit(indent + 1, f"{f} = NULL")


def generate(
    tree: PathTree,
    edges: Sequence[Edge],
    walk: Callable[[Any, dict[str, Any], list[Any]], None],
    answer: Callable[[list[Any]], list[str]],
) -> Fast | None:
    """The straight-line matcher for one snapshot, or None when the tree is too wide or too deep to be worth it.

    `edges` are the root state's fields; `walk(state, {path: key}, hits)` (`machine._walk_simple`) walks below the
    first level; `answer(hits)` turns the hits that hold names into the sorted names.
    """
    paths = _count_paths(tree)
    if paths > MAX_PATHS or _depth(tree) > MAX_DEPTH:
        return None
    src = _Source()
    body = _Source()
    body.names, body.values, body.fields = src.names, src.values, src.fields
    for path in _all_paths(tree):
        src.field(path)
    _flatten_level(body, tree, "ev", 1, 0)
    fields = src.fields
    lines = ["def fast(ev, raw):"]
    lines.append("    " + " = ".join([*fields.values(), "None"]))
    lines += body.lines
    lines.append("    hits = []")
    lines.append("    deep = None")
    for path, known, lookup_of, absent_hit, default_hit in edges:
        f = fields[path]
        absent = src.const("a", absent_hit)
        probe = src.const("g", known.get)
        if default_hit is not None:
            default = src.const("n", default_hit)
            lines.append(f"    h = {absent} if {f} is None else {probe}({f}, {default})")
        else:
            lookup = src.const("l", lookup_of)
            lines.append(f"    h = {absent} if {f} is None else ({probe}({f}) or {lookup}({f}))")
        lines.append("    if h.names: hits.append(h)")
        lines.append("    if h.deeper:")
        lines.append("        if deep is None: deep = [*h.deeper]")
        lines.append("        else: deep += h.deeper")
    # The states below the first level, walked inline (their own children through `walk`) on a {path: key} dict.
    below = "{" + ", ".join(f"P{i}: {v}" for i, v in enumerate(fields.values())) + "}"
    lines += [
        "    if deep is not None:",
        f"        below = {below}",
        "        for state in deep:",
        "            for path, known, lookup, absent, default in state.edges:",
        "                key = below.get(path)",
        "                if key is None: h = absent",
        "                elif default is not None: h = known.get(key, default)",
        "                else: h = known.get(key) or lookup(key)",
        "                if h.names: hits.append(h)",
        "                if h.deeper:",
        "                    for child in h.deeper: walk(child, below, hits)",
    ]
    lines.append("    if not hits: return []")
    lines.append("    if len(hits) == 1: return list(hits[0].names)")
    lines.append("    return answer(hits)")
    consts = dict(zip(src.names, src.values, strict=True))
    for i, path in enumerate(fields):
        consts[f"P{i}"] = path
    names = sorted(consts)
    factory = [f"def factory({', '.join(names)}):"]
    factory += ["    " + line for line in lines]
    factory.append("    return fast")
    namespace: dict[str, Any] = {
        "check": _check_float,
        "has_dot": has_dotted_key,
        "dotted": dotted_targets,
        "int_key": int_key,
        "TRUE": TRUE,
        "FALSE": FALSE,
        "NULL": NULL,
        "walk": walk,
        "answer": answer,
    }
    exec(compile("\n".join(factory), "<patterns specialised matcher>", "exec"), namespace)
    # `factory` is dropped from its own globals before use, so the function it returns holds no cycle (its globals
    # no longer reach it): a replaced snapshot's code is freed by reference counting like the rest of it.
    factory_function = namespace.pop("factory")
    fast: Fast = factory_function(*(consts[name] for name in names))
    return fast


def _all_paths(tree: PathTree) -> list[str]:
    """The used paths in depth-first order (iterative)."""
    out: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.path is not None:
            out.append(node.path)
        stack.extend(child for _, child in reversed(node.plain))
    return out


def _count_paths(tree: PathTree) -> int:
    return len(_all_paths(tree))
