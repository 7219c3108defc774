"""A schema document as a readable tree of fields and types, and the difference between two such trees.

`field_rows` walks an event schema (OpenAPI 3 rooted at `AWSEvent`, or JSON Schema Draft 4) and returns one row per
field in document order: its path, depth, type label (`string (date-time)`, `array of OrderLine`, `integer
(int64)`) and whether it is required. References to components are followed (each at most once along a path, so a
recursive schema shows its reference instead of looping), and the walk is iterative. `diff_rows` merges the rows of
two versions, marking each field added, removed, changed (type or required) or unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DiffRow", "FieldRow", "diff_rows", "field_rows", "resolve"]

MAX_ROWS = 2000
"""Rows shown for one schema; a larger document is cut (the page says so)."""


@dataclass(frozen=True, slots=True)
class FieldRow:
    path: tuple[str, ...]
    type: str
    required: bool

    @property
    def depth(self) -> int:
        return len(self.path) - 1

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def key(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class DiffRow:
    row: FieldRow
    change: str
    """`added`, `removed`, `changed` or `same`."""
    before: FieldRow | None = None


def _definitions(doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
    components = (doc.get("components") or {}).get("schemas")
    if isinstance(components, dict):
        return components, "#/components/schemas/"
    return doc.get("definitions") or {}, "#/definitions/"


def resolve(doc: dict[str, Any], schema: Any) -> tuple[dict[str, Any], str | None]:
    """A schema object with its `$ref` followed once: (the target, the referenced name or None)."""
    if not isinstance(schema, dict):
        return {}, None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        definitions, prefix = _definitions(doc)
        if ref.startswith(prefix):
            name = ref[len(prefix) :]
            target = definitions.get(name)
            return (target if isinstance(target, dict) else {}), name
    return schema, None


def root_of(doc: dict[str, Any]) -> dict[str, Any]:
    components = (doc.get("components") or {}).get("schemas")
    if isinstance(components, dict):
        root: Any = components.get("AWSEvent") or next(iter(components.values()), {})
        return root if isinstance(root, dict) else {}
    return doc


def _label(doc: dict[str, Any], schema: Any) -> str:
    target, name = resolve(doc, schema)
    kind = target.get("type")
    if isinstance(kind, list):
        kind = " | ".join(str(k) for k in kind)
    if kind == "array":
        items, item_name = resolve(doc, target.get("items"))
        inner = item_name or items.get("type") or "any"
        return f"array of {inner}"
    label = name or (str(kind) if kind else "any")
    fmt = target.get("format")
    if fmt:
        label += f" ({fmt})"
    if target.get("nullable") is True:
        label += ", nullable"
    return label


def _children(
    doc: dict[str, Any], path: tuple[str, ...], schema: dict[str, Any], seen: frozenset[str]
) -> list[tuple[tuple[str, ...], Any, bool, frozenset[str]]]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return []
    required = set(schema.get("required") or [])
    return [((*path, str(name)), child, name in required, seen) for name, child in properties.items()]


def field_rows(doc: dict[str, Any]) -> list[FieldRow]:
    """Every field of the schema, depth first in document order (each field followed by its own fields)."""
    rows: list[FieldRow] = []
    stack = list(reversed(_children(doc, (), root_of(doc), frozenset())))
    while stack and len(rows) < MAX_ROWS:
        path, child, required, seen = stack.pop()
        rows.append(FieldRow(path, _label(doc, child), required))
        target, ref = resolve(doc, child)
        if target.get("type") == "array":
            target, item_ref = resolve(doc, target.get("items"))
            ref = item_ref
        if ref is not None and ref in seen:
            continue  # a recursive reference: shown by name, not expanded again
        stack.extend(reversed(_children(doc, path, target, seen | {ref} if ref else seen)))
    return rows


def diff_rows(before: list[FieldRow], after: list[FieldRow]) -> list[DiffRow]:
    """`after`'s rows marked against `before`; a removed row is placed after its predecessor in `before` (and
    that row's own fields), so removed subtrees stay whole and in order."""
    old = {row.key: row for row in before}
    new_keys = {row.key for row in after}
    out: list[DiffRow] = []
    for row in after:
        previous = old.get(row.key)
        if previous is None:
            out.append(DiffRow(row, "added"))
        elif (previous.type, previous.required) != (row.type, row.required):
            out.append(DiffRow(row, "changed", previous))
        else:
            out.append(DiffRow(row, "same", previous))
    for index, row in enumerate(before):
        if row.key in new_keys:
            continue
        anchor = before[index - 1].key if index > 0 else None  # already in `out`: kept, or removed and placed
        at = 0
        if anchor is not None:
            at = next(i for i, d in enumerate(out) if d.row.key == anchor) + 1
            while at < len(out) and out[at].row.key.startswith(anchor + "."):
                at += 1
        out.insert(at, DiffRow(row, "removed", row))
    return out
