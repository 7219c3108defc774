"""The JSON Schema (draft 2020-12) of the files in `config/`, and the translation of its errors into plain words.

The file layout (buses, rules, their state, description and pattern) is written out here by hand, with a
description on each member so editors can show it. A rule's targets are the service's own `Target` shape, so their
schema is generated from the botocore `events` model, the same model the SDKs and the API validator use: a config
file cannot accept a target the API would refuse, and a member AWS adds shows up when botocore does.

`config/schema.json` is this schema rendered by `python -m router.config.schema > config/schema.json` for editors
(yaml-language-server, VS Code); a unit test keeps the two equal. jsonschema's errors are translated at this
boundary into `(path, reason)` pairs such as `("rules[2].targets[0].Arn", "required key is missing")`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

import jsonschema
from botocore.model import ListShape, MapShape, Shape, StructureShape

from router.model import events_model
from router.namespace import ACCOUNT_PATTERN, REGION_PATTERN

DRAFT = "https://json-schema.org/draft/2020-12/schema"
NAME_PATTERN = "^[\\.\\-_A-Za-z0-9]+$"
"""Rule names, target ids and custom bus names (custom buses may not contain `/`)."""
RULE_STATES = ("ENABLED", "DISABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")

_BUS: dict[str, Any] = {
    "type": "object",
    "description": "A custom event bus (CreateEventBus). The default bus always exists and is not declared.",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 256,
            "pattern": NAME_PATTERN,
            "description": "The bus name: letters, digits, '.', '-' and '_'.",
        },
        "description": {"type": "string", "maxLength": 512, "description": "The bus description."},
        "tags": {
            "type": "object",
            "maxProperties": 50,
            "propertyNames": {"minLength": 1, "maxLength": 128},
            "additionalProperties": {"type": "string", "maxLength": 256},
            "description": "Tags of the bus (key: value), added at CreateEventBus or with TagResource; tags set "
            "otherwise are left alone. E.g. `switchboard:validate-schema: orders/shop@OrderCreated` (docs/schemas.md).",
        },
    },
}

_RULE: dict[str, Any] = {
    "type": "object",
    "description": "A rule (PutRule) and its targets (PutTargets).",
    "additionalProperties": False,
    "required": ["name"],
    "anyOf": [{"required": ["pattern"]}, {"required": ["schedule"]}],
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "pattern": NAME_PATTERN,
            "description": "The rule name, unique on its bus.",
        },
        "bus": {
            "type": "string",
            "minLength": 1,
            "maxLength": 256,
            "pattern": "^[/\\.\\-_A-Za-z0-9]+$",
            "default": "default",
            "description": "The name of the bus the rule watches (default: `default`).",
        },
        "description": {"type": "string", "maxLength": 512, "description": "The rule description."},
        "state": {"enum": list(RULE_STATES), "default": "ENABLED", "description": "The rule state."},
        "pattern": {
            "type": ["object", "string"],
            "description": "The event pattern, as a YAML mapping or as a JSON string (a rule needs a pattern, a "
            "schedule or both).",
        },
        "schedule": {
            "type": "string",
            "minLength": 1,
            "maxLength": 256,
            "description": "The ScheduleExpression, `rate(5 minutes)` or `cron(0 12 * * ? *)`: the rule fires on "
            "this schedule (default bus only; docs/schedules.md).",
        },
        "targets": {
            "type": "array",
            "items": {"$ref": "#/$defs/Target"},
            "description": "Up to 5 targets, in the Target shape of PutTargets.",
        },
    },
}


_ARCHIVE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 48,
            "pattern": NAME_PATTERN,
            "description": "The archive name: letters, digits, '.', '-' and '_'.",
        },
        "bus": {
            "type": "string",
            "minLength": 1,
            "maxLength": 256,
            "pattern": "^[/\\.\\-_A-Za-z0-9]+$",
            "default": "default",
            "description": "The bus whose events it archives (default: `default`); it cannot change later.",
        },
        "description": {"type": "string", "maxLength": 512, "description": "The archive description."},
        "pattern": {
            "type": ["object", "string"],
            "description": "Archive only the events this pattern matches (default: every event but replays).",
        },
        "retention_days": {
            "type": "integer",
            "minimum": 0,
            "default": 0,
            "description": "Days events are kept, by event time (0: forever).",
        },
    },
}


@cache
def schema() -> dict[str, Any]:
    """The config-file schema. Cached: treat the result as read-only."""
    return {
        "$schema": DRAFT,
        "$comment": "Generated by `python -m router.config.schema`; the Target shape comes from the botocore model.",
        "title": "Switchboard configuration file",
        "description": "Declares event buses, rules and their targets; see docs/config.md.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "account": {
                "type": "string",
                "pattern": f"^{ACCOUNT_PATTERN}$",
                "description": "The account (12 digits) whose buses, rules and archives this file declares "
                "(default: SWITCHBOARD_ACCOUNT_ID, the home account; docs/api.md, Accounts and regions).",
            },
            "region": {
                "type": "string",
                "pattern": f"^{REGION_PATTERN}$",
                "description": "The region whose buses, rules and archives this file declares (default: "
                "SWITCHBOARD_REGION, the home region; docs/api.md, Accounts and regions).",
            },
            "buses": {"type": "array", "items": {"$ref": "#/$defs/Bus"}, "description": "Custom event buses."},
            "rules": {"type": "array", "items": {"$ref": "#/$defs/Rule"}, "description": "Rules and their targets."},
            "functions": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "additionalProperties": {"type": "string", "pattern": "^https?://"},
                "description": "Lambda function name -> the URL its targets are POSTed to (there is no Lambda here).",
            },
            "archives": {
                "type": "array",
                "items": {"$ref": "#/$defs/Archive"},
                "description": "Archives of a bus's events (served by the archive package, docs/archive.md).",
            },
        },
        "$defs": {
            "Bus": _BUS,
            "Rule": _RULE,
            "Archive": _ARCHIVE,
            "Target": _shape_schema(events_model().shape_for("Target")),
        },
    }


def render() -> str:
    """The schema as the text of `config/schema.json`."""
    return json.dumps(schema(), indent=2) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# botocore shape -> JSON Schema


def _shape_schema(shape: Shape) -> dict[str, Any]:
    meta = shape.metadata
    out: dict[str, Any]
    if isinstance(shape, StructureShape):
        out = {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: _shape_schema(member) for name, member in shape.members.items()},
        }
        if shape.required_members:
            out["required"] = list(shape.required_members)
    elif isinstance(shape, ListShape):
        out = {"type": "array", "items": _shape_schema(shape.member)}
        _bound(out, meta, "minItems", "maxItems")
    elif isinstance(shape, MapShape):
        out = {
            "type": "object",
            "propertyNames": _shape_schema(shape.key),
            "additionalProperties": _shape_schema(shape.value),
        }
        _bound(out, meta, "minProperties", "maxProperties")
    elif shape.type_name == "string":
        out = {"type": "string"}
        if shape.enum:
            out["enum"] = list(shape.enum)
        _bound(out, meta, "minLength", "maxLength")
        pattern = meta.get("pattern")
        # AWS matches the whole value; `\p{..}` classes are Java-only, and the API validator still checks them.
        if pattern and "\\p{" not in pattern:
            out["pattern"] = pattern if pattern.startswith("^") and pattern.endswith("$") else f"^(?:{pattern})$"
    elif shape.type_name in ("integer", "long"):
        out = {"type": "integer"}
        _bound(out, meta, "minimum", "maximum")
    elif shape.type_name in ("float", "double"):
        out = {"type": "number"}
        _bound(out, meta, "minimum", "maximum")
    elif shape.type_name == "boolean":
        out = {"type": "boolean"}
    else:  # pragma: no cover - the Target shape has no other kinds
        raise TypeError(f"no JSON Schema for botocore shape {shape.name} ({shape.type_name})")
    return out


def _bound(out: dict[str, Any], meta: dict[str, Any], low: str, high: str) -> None:
    if "min" in meta and (meta["min"] or low == "minimum"):  # a zero length or count bound says nothing
        out[low] = meta["min"]
    if "max" in meta:
        out[high] = meta["max"]


# ---------------------------------------------------------------------------------------------------------------
# errors


def problems(document: Any) -> list[tuple[str, str]]:
    """Every schema violation in one parsed file, as `(path, reason)`, in document order, without duplicates."""
    validator = jsonschema.Draft202012Validator(schema())
    found: dict[tuple[str, str], tuple[int, ...]] = {}
    for error in validator.iter_errors(document):
        for parts, reason in _explain(error):
            found.setdefault((format_path(parts), reason), _document_order(document, parts))
    return sorted(found, key=lambda item: found[item])


def format_path(parts: Sequence[str | int]) -> str:
    """`["rules", 2, "targets", 0, "Arn"]` -> `rules[2].targets[0].Arn`."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _document_order(document: Any, parts: Sequence[str | int]) -> tuple[int, ...]:
    """Where a path sits in the file: list indices, and the position of each key in its mapping (YAML order)."""
    order: list[int] = []
    node = document
    for part in parts:
        if isinstance(node, dict):
            keys = list(node)
            order.append(keys.index(part) if part in node else len(keys))
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            order.append(part)
            node = node[part]
        else:
            order.append(0)
            node = None
    return tuple(order)


_KINDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def kind_of(value: Any) -> str:
    """How a YAML value reads to a user: `a mapping`, `a list`, `a string`, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _explain(error: jsonschema.ValidationError) -> Iterator[tuple[list[str | int], str]]:
    parts: list[str | int] = list(error.absolute_path)
    value = error.validator
    rule: Any = error.validator_value
    instance: Any = error.instance
    if value == "additionalProperties" and isinstance(instance, dict) and isinstance(error.schema, dict):
        allowed = list(error.schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                yield [*parts, key], f"unknown key; allowed keys are {', '.join(allowed)}"
        return
    if value == "required" and isinstance(instance, dict):
        for key in rule:
            if key not in instance:
                yield [*parts, key], "required key is missing"
        return
    if value == "anyOf" and all(isinstance(s, dict) and list(s) == ["required"] for s in rule):
        keys = [s["required"][0] for s in rule]  # one of these keys is required
        yield [*parts, keys[0]], f"required key is missing; a rule needs {' or '.join(keys)} (or both)"
        return
    if value == "type":
        wanted = rule if isinstance(rule, list) else [rule]
        reason = f"expected {' or '.join(_KINDS[t] for t in wanted)}, got {kind_of(instance)}"
    elif value == "enum":
        reason = f"must be one of {', '.join(map(str, rule))}; got {instance!r}"
    elif value == "pattern":
        reason = f"{instance!r} does not match the pattern {rule}"
    elif value == "minLength":
        reason = f"must be at least {rule} characters long"
    elif value == "maxLength":
        reason = f"must be at most {rule} characters long; got {len(instance)}"
    elif value == "minimum":
        reason = f"must be at least {rule}; got {instance}"
    elif value == "maximum":
        reason = f"must be at most {rule}; got {instance}"
    elif value == "minItems":
        reason = f"must have at least {rule} items"
    elif value == "maxItems":
        reason = f"must have at most {rule} items; got {len(instance)}"
    elif value == "maxProperties":
        reason = f"must have at most {rule} entries; got {len(instance)}"
    elif value == "not" and isinstance(error.schema, dict):
        reason = str(error.schema.get("description", error.message))
    else:
        reason = error.message
    yield parts, reason


if __name__ == "__main__":  # pragma: no cover - `python -m router.config.schema > config/schema.json`
    print(render(), end="")
