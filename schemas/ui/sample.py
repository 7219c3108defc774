"""A sample event for a schema: what an event of this shape looks like, built from the schema itself.

Strings get a value by their format (`date-time` -> an ISO timestamp), numbers `0`, booleans `false`, arrays one
sample item, objects every property. For an event schema the envelope is filled in the way EventBridge fills it:
`source` and `detail-type` from the `x-amazon-events-*` keys, the account and region of this router. The walk is
iterative and follows each reference at most once along a path.
"""

from __future__ import annotations

from typing import Any

from schemas.ui.tree import resolve, root_of

__all__ = ["sample_event"]

_STRINGS = {
    "date-time": "2026-01-01T12:00:00Z",
    "date": "2026-01-01",
    "email": "user@example.com",
    "uuid": "5a6a1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d",
    "uri": "https://example.com/",
}
MAX_NODES = 5000


def _scalar(schema: dict[str, Any], name: str) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "string":
        return _STRINGS.get(str(schema.get("format")), name or "string")
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return None


def sample_event(doc: dict[str, Any], *, account: str = "123456789012", region: str = "us-east-1") -> Any:
    root = root_of(doc)
    holder: dict[str, Any] = {}
    stack: list[tuple[Any, dict[str, Any] | list[Any], Any, str, frozenset[str]]] = [
        (root, holder, "v", "", frozenset())
    ]
    nodes = 0
    while stack and nodes < MAX_NODES:
        nodes += 1
        schema, parent, key, name, seen = stack.pop()
        target, ref = resolve(doc, schema)
        if ref is not None and ref in seen:
            parent[key] = {}
            continue
        inner_seen = seen | {ref} if ref else seen
        if isinstance(target.get("properties"), dict) or target.get("type") == "object":
            obj: dict[str, Any] = dict.fromkeys(target.get("properties") or {})
            parent[key] = obj
            for child_name, child in reversed(list((target.get("properties") or {}).items())):
                stack.append((child, obj, child_name, str(child_name), inner_seen))
        elif target.get("type") == "array":
            items: list[Any] = [None]
            parent[key] = items
            stack.append((target.get("items") or {}, items, 0, name, inner_seen))
        else:
            parent[key] = _scalar(target, name)
    event = holder.get("v")
    if isinstance(event, dict) and "detail-type" in event:
        source = root.get("x-amazon-events-source")
        detail_type = root.get("x-amazon-events-detail-type")
        defaults = {
            "version": "0",
            "id": "7f8a9b0c-1d2e-4f3a-8b4c-5d6e7f8a9b0c",
            "account": account,
            "region": region,
            "time": _STRINGS["date-time"],
            "resources": [],
        }
        for field, value in defaults.items():
            if field in event:
                event[field] = value
        if source:
            event["source"] = source
        if detail_type:
            event["detail-type"] = detail_type
    return event
