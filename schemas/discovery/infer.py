"""Schema inference for discovery: genson infers a JSON Schema from events' `detail`, converted here into the
OpenAPI 3 document AWS writes for a discovered schema.

- `schema_name(source, detail_type)` is `<source>@<DetailType without spaces>`, as AWS names them.
- `shape_key(detail)` is a structural fingerprint of one event: the sorted (path, JSON type) pairs, hashed. Two
  events that differ only in values have the same key, so unchanged traffic costs a set look-up (`Discovery`).
- `merge(previous, details)` adds events to the inferred JSON Schema of the latest version (genson's
  `SchemaBuilder`: union of fields, `required` = present in every event, type lists for mixed types); its
  `fingerprint` changes only when fields or types do, which is when discovery makes a new version.
- `to_openapi` writes the document: `openapi: 3.0.0`, `info {version 1.0.0, title}`, `paths: {}`, and under
  `components.schemas` the `AWSEvent` envelope (all nine fields required, `x-amazon-events-source` and
  `x-amazon-events-detail-type`, `time` as `date-time`, `detail` a `$ref`) plus one component per object of the
  detail, named after the detail type and the fields (PascalCase), integers as `integer`/`int64`, other numbers as
  `number`/`double`, `null` as `{}`, mixed types as `anyOf`.

Inference sees at most `MAX_DEPTH` (255) levels of a detail, as AWS; deeper parts are ignored. Every walk here is
iterative; genson's own recursion stays within that depth.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

import orjson
from genson import SchemaBuilder

__all__ = ["ENVELOPE_FIELDS", "MAX_DEPTH", "fingerprint", "merge", "schema_name", "shape_key", "to_openapi", "truncate"]

MAX_DEPTH = 255
ENVELOPE_FIELDS = ("detail-type", "resources", "detail", "id", "source", "time", "region", "version", "account")


def schema_name(source: str, detail_type: str) -> str:
    return f"{source}@{detail_type.replace(' ', '')}"


_KINDS: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def shape_key(detail: Any) -> int:
    """A digest of the detail's structure: every (path, type) pair, values ignored, order ignored.

    Paths are nested tuples (`((((), "a"), "[]"), "b")`, O(1) to extend) and the digest is the hash of their
    frozenset, all in C: this runs for every event a discovery rule matches. The digest is per process (Python's
    string hashing is salted), which is all its users (the target's and the worker's seen-sets) need."""
    pairs: list[tuple[Any, str]] = []
    stack: list[tuple[Any, Any, int]] = [((), detail, 0)]
    pop, push, add = stack.pop, stack.append, pairs.append
    while stack:
        path, value, depth = pop()
        kind = _KINDS.get(type(value), "object")
        add((path, kind))
        if depth >= MAX_DEPTH:
            continue
        if kind == "object":
            for key, child in value.items():
                push(((path, key), child, depth + 1))
        elif kind == "array":
            item_path = (path, "[]")
            for child in value:
                push((item_path, child, depth + 1))
    return hash(frozenset(pairs))


def truncate(detail: Any, max_depth: int = MAX_DEPTH) -> Any:
    """A copy of `detail` without the containers nested deeper than `max_depth` (they are left out)."""
    holder: dict[str, Any] = {}
    stack: list[tuple[Any, Any, Any, int]] = [(detail, holder, "v", 0)]
    while stack:
        value, parent, key, depth = stack.pop()
        if isinstance(value, dict):
            if depth >= max_depth:
                continue
            copy: dict[str, Any] = dict.fromkeys(value)  # keeps the event's field order (filled below)
            parent[key] = copy
            stack.extend((child, copy, name, depth + 1) for name, child in value.items())
        elif isinstance(value, list):
            if depth >= max_depth:
                continue
            items: list[Any] = []
            parent[key] = items
            for child in value:
                items.append(None)
                stack.append((child, items, len(items) - 1, depth + 1))
        else:
            parent[key] = value
    return holder.get("v", {})


def merge(previous: dict[str, Any] | None, details: Iterable[Any]) -> dict[str, Any]:
    """The inferred JSON Schema of `details` merged into `previous` (genson)."""
    builder = SchemaBuilder(schema_uri=None)
    if previous is not None:
        builder.add_schema(previous)
    for detail in details:
        builder.add_object(truncate(detail))
    schema: dict[str, Any] = builder.to_schema()
    return schema


def fingerprint(inferred: dict[str, Any]) -> str:
    """Identifies an inferred structure: a new version is made exactly when this changes."""
    return hashlib.sha256(orjson.dumps(inferred, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _pascal(text: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", text)
    name = "".join(word[:1].upper() + word[1:] for word in words if word)
    if not name:
        return "Object"
    return f"N{name}" if name[0].isdigit() else name


def _scalar(kind: str) -> dict[str, Any]:
    if kind == "integer":
        return {"type": "integer", "format": "int64"}
    if kind == "number":
        return {"type": "number", "format": "double"}
    if kind == "null":
        return {}
    return {"type": kind}


def to_openapi(source: str, detail_type: str, inferred: dict[str, Any]) -> dict[str, Any]:
    """AWS's discovered-schema document for `inferred` (the detail's JSON Schema)."""
    detail_name = _pascal(detail_type)
    components: dict[str, Any] = {}
    envelope = {
        "type": "object",
        "required": list(ENVELOPE_FIELDS),
        "x-amazon-events-detail-type": detail_type,
        "x-amazon-events-source": source,
        "properties": {
            "detail": {"$ref": f"#/components/schemas/{detail_name}"},
            "account": {"type": "string"},
            "detail-type": {"type": "string"},
            "id": {"type": "string"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "source": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "version": {"type": "string"},
        },
    }
    components["AWSEvent"] = envelope
    taken = {"AWSEvent"}

    def component_name(hint: str) -> str:
        base = _pascal(hint)
        name, n = base, 2
        while name in taken:
            name, n = f"{base}{n}", n + 1
        taken.add(name)
        return name

    holder: dict[str, Any] = {}
    # (genson node, parent container, key in it, name hint, is the root detail)
    stack: list[tuple[Any, Any, Any, str, bool]] = [(inferred, holder, "detail", detail_type, True)]
    while stack:
        node, parent, key, hint, is_root = stack.pop()
        if not isinstance(node, dict):
            parent[key] = {}
            continue
        variants = node.get("anyOf")
        kind = node.get("type")
        if isinstance(variants, list) or isinstance(kind, list):
            options = variants if isinstance(variants, list) else [{**node, "type": k} for k in kind]  # type: ignore[union-attr]
            real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(real) == 1:
                stack.append((real[0], parent, key, hint, is_root))
                continue
            alternatives: list[Any] = [None] * len(real)
            parent[key] = {"anyOf": alternatives}
            stack.extend((option, alternatives, i, hint, False) for i, option in enumerate(real))
            continue
        if kind == "object" or "properties" in node:
            name = detail_name if is_root else component_name(hint)
            if is_root:
                taken.add(name)
            properties: dict[str, Any] = dict.fromkeys(node.get("properties") or {})
            schema: dict[str, Any] = {"type": "object"}
            if node.get("required"):
                schema["required"] = list(node["required"])
            schema["properties"] = properties
            components[name] = schema
            parent[key] = {"$ref": f"#/components/schemas/{name}"}
            for child_name, child in reversed(list((node.get("properties") or {}).items())):
                stack.append((child, properties, child_name, str(child_name), False))
            if not properties:
                del schema["properties"]
        elif kind == "array":
            array: dict[str, Any] = {"type": "array", "items": {}}
            parent[key] = array
            if "items" in node:
                stack.append((node["items"], array, "items", hint, False))
        elif isinstance(kind, str):
            parent[key] = _scalar(kind)
        else:
            parent[key] = {}
    if holder.get("detail") != {"$ref": f"#/components/schemas/{detail_name}"}:
        components[detail_name] = {"type": "object"}  # a detail that is not an object (cannot happen on the wire)
    return {
        "openapi": "3.0.0",
        "info": {"version": "1.0.0", "title": detail_name},
        "paths": {},
        "components": {"schemas": components},
    }
