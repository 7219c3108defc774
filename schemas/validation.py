"""Validation of PutEvents entries against a schema, beyond AWS: a bus can refuse malformed events at the door.

A bus validates when it has the tag `switchboard:validate-schema` = `<registry>/<schema name>` (set at
CreateEventBus, with TagResource, or in a config file's bus `tags`); the optional tag
`switchboard:validate-version` pins a version, else the latest version is used. Each entry's `Detail` is checked
against the schema's detail part (the `detail` property of an event schema such as the discovered ones, or the
whole schema for any other), as JSON Schema Draft 4 (`schemas.content.to_draft4`). A failing entry fails on its own
with `InvalidArgument` and a message naming the JSON path that failed; the request's other entries succeed.

This is a `router.extensions` entry check: the router asks `bus_check` at most once a second per bus (a change of
tag or a new version is in force within a second), and compiled validators are kept per document, so a validating
bus costs one `Detail` parse and one validation per entry, and a bus without the tag costs nothing. A tag that
names a schema or version that does not exist fails every entry (it never lets events through unchecked).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match

from router.extensions import EntryCheck
from router.state import AppState
from router.store import stores
from schemas.content import DRAFT4_URI, to_draft4
from schemas.services import store

__all__ = ["SCHEMA_TAG", "VERSION_TAG", "bus_check", "detail_schema"]

SCHEMA_TAG = "switchboard:validate-schema"
VERSION_TAG = "switchboard:validate-version"
_VALIDATORS: dict[str, Draft4Validator] = {}
"""Compiled validators by version digest (bounded)."""


def detail_schema(schema_type: str, document: dict[str, Any]) -> dict[str, Any]:
    """The Draft 4 schema an event's `detail` must match."""
    exported = to_draft4(schema_type, document)
    detail = (exported.get("properties") or {}).get("detail")
    if not isinstance(detail, dict):
        return exported
    out = {"$schema": DRAFT4_URI, **detail}
    if "definitions" in exported:
        out["definitions"] = exported["definitions"]
    return out


def _refuse(message: str) -> EntryCheck:
    def check(entry: Mapping[str, Any]) -> tuple[str, str]:
        return "InvalidArgument", message

    return check


def _path(error: Any) -> str:
    path: str = getattr(error, "json_path", "$")
    return path


async def bus_check(state: AppState, bus: str) -> EntryCheck | None:
    """The `router.extensions` entry check of `bus` (its key-layout name, router.keys `Keys.scoped`: the bus of
    any namespace), or None when it does not validate."""
    namespace, name = state.keys.unscoped(bus)
    buses, _ = stores(state, namespace)
    record = await buses.get(name)
    tags = {tag["Key"]: tag["Value"] for tag in (record or {}).get("Tags") or []}
    target = tags.get(SCHEMA_TAG)
    if not target:
        return None
    registry, _, name = target.partition("/")
    registries = store(state, namespace)  # the bus's namespace's registries
    schema = await registries.get_schema(registry, name) if registry and name else None
    if schema is None:
        return _refuse(
            f"Parameter Detail is not valid. Reason: the bus validates against schema {target}, which does not exist."
        )
    wanted = tags.get(VERSION_TAG) or str(schema["LatestVersion"])
    version = await registries.get_version(registry, name, wanted)
    if version is None:
        return _refuse(
            f"Parameter Detail is not valid. Reason: the bus validates against version {wanted} of schema {target}, "
            "which does not exist."
        )
    digest = version.get("Digest") or f"{registry}/{name}/{wanted}"
    validator = _VALIDATORS.get(digest)
    if validator is None:
        if len(_VALIDATORS) >= 1_000:
            _VALIDATORS.clear()
        validator = _VALIDATORS[digest] = Draft4Validator(
            detail_schema(version["Type"], orjson.loads(version["Content"]))
        )
    label = f"{target} version {wanted}"

    def check(entry: Mapping[str, Any]) -> tuple[str, str] | None:
        detail = orjson.loads(entry["Detail"])  # the router checked it is a JSON object
        error = best_match(validator.iter_errors(detail))
        if error is None:
            return None
        return (
            "InvalidArgument",
            f"Parameter Detail is not valid. Reason: it does not match schema {label}: "
            f"at {_path(error)}: {error.message}",
        )

    return check
