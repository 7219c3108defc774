"""The field tree and the version diff the browse pages show, and the sample event."""

from __future__ import annotations

from typing import Any

from schemas.ui.sample import sample_event
from schemas.ui.tree import diff_rows, field_rows


def event_doc(detail: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"title": "OrderCreated", "version": "1.0.0"},
        "components": {
            "schemas": {
                "AWSEvent": {
                    "type": "object",
                    "required": ["detail", "source"],
                    "x-amazon-events-source": "shop",
                    "x-amazon-events-detail-type": "OrderCreated",
                    "properties": {
                        "detail": {"$ref": "#/components/schemas/OrderCreated"},
                        "detail-type": {"type": "string"},
                        "source": {"type": "string"},
                        "time": {"type": "string", "format": "date-time"},
                    },
                },
                "OrderCreated": detail,
                **(extra or {}),
            }
        },
    }


DETAIL = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string"},
        "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
        "total": {"type": "integer", "format": "int64"},
    },
}
LINE = {
    "Line": {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "parent": {"$ref": "#/components/schemas/Line"}},
    }
}


def test_rows_are_depth_first_with_types_and_required() -> None:
    rows = field_rows(event_doc(DETAIL, LINE))
    assert [(row.key, row.type, row.required, row.depth) for row in rows] == [
        ("detail", "OrderCreated", True, 0),
        ("detail.id", "string", True, 1),
        ("detail.lines", "array of Line", False, 1),
        ("detail.lines.sku", "string", False, 2),
        ("detail.lines.parent", "Line", False, 2),  # recursive: shown by name, not expanded again
        ("detail.total", "integer (int64)", False, 1),
        ("detail-type", "string", False, 0),
        ("source", "string", True, 0),
        ("time", "string (date-time)", False, 0),
    ]


def test_diff_marks_added_removed_and_changed_fields() -> None:
    before = field_rows(event_doc(DETAIL, LINE))
    changed = {
        "type": "object",
        "required": ["id", "currency"],
        "properties": {
            "id": {"type": "integer"},
            "currency": {"type": "string"},
            "total": {"type": "integer", "format": "int64"},
        },
    }
    after = field_rows(event_doc(changed))
    marks = [(d.row.key, d.change) for d in diff_rows(before, after)]
    assert marks == [
        ("detail", "same"),
        ("detail.id", "changed"),
        ("detail.lines", "removed"),
        ("detail.lines.sku", "removed"),
        ("detail.lines.parent", "removed"),
        ("detail.currency", "added"),
        ("detail.total", "same"),
        ("detail-type", "same"),
        ("source", "same"),
        ("time", "same"),
    ]


def test_sample_event_fills_the_envelope_and_the_detail() -> None:
    event = sample_event(event_doc(DETAIL, LINE), account="111122223333", region="eu-west-1")
    assert event["source"] == "shop"
    assert event["detail-type"] == "OrderCreated"
    assert event["time"] == "2026-01-01T12:00:00Z"
    assert event["detail"] == {"id": "id", "lines": [{"sku": "sku", "parent": {}}], "total": 0}


def test_a_deep_schema_does_not_recurse() -> None:
    inner: dict[str, Any] = {"type": "string"}
    for _ in range(3000):
        inner = {"type": "object", "properties": {"a": inner}}
    doc = {"type": "object", "properties": {"root": inner}}
    rows = field_rows(doc)
    assert rows[0].key == "root"
    assert len(rows) == 2000  # capped
    assert sample_event(doc)["root"]["a"]["a"] is not None
