"""Schema documents: checking what CreateSchema/UpdateSchema receive, and ExportSchema's JSON Schema Draft 4.

A schema's `Content` is a JSON document of its `Type`: `OpenApi3` (an OpenAPI 3.x document whose
`components.schemas` hold the schema objects, as discovery writes them) or `JSONSchemaDraft4`. Content that does
not parse, is not an object, or is not a valid document of its type is a `BadRequestException`.

`to_draft4` converts an OpenAPI 3 document into one self-contained Draft 4 schema, as ExportSchema returns it: the
root is `components.schemas.AWSEvent` (or the first component when there is none), the other components move to
`definitions`, `$ref`s are rewritten to `#/definitions/...`, `nullable: true` becomes a `"null"` type, and
OpenAPI-only keywords are dropped. The walk is iterative (documents may nest deeply) and only schema positions are
rewritten: a property that happens to be called `nullable` or `$ref` stays a property.
"""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft4Validator
from jsonschema.exceptions import SchemaError

from schemas.errors import BadRequestException

__all__ = ["DRAFT4_URI", "JSON_SCHEMA_DRAFT4", "OPENAPI3", "parse_content", "root_schema_name", "to_draft4"]

OPENAPI3 = "OpenApi3"
JSON_SCHEMA_DRAFT4 = "JSONSchemaDraft4"
DRAFT4_URI = "http://json-schema.org/draft-04/schema#"

_OPENAPI_ONLY = frozenset({"nullable", "discriminator", "readOnly", "writeOnly", "xml", "externalDocs", "example"})
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_VALUES = ("not", "additionalProperties", "items", "additionalItems")
_COMPONENT_REF = "#/components/schemas/"


def parse_content(schema_type: str, content: str) -> dict[str, Any]:
    """The parsed document, or BadRequestException saying why it is not a valid `schema_type` document."""
    try:
        doc = orjson.loads(content)
    except orjson.JSONDecodeError as err:
        raise BadRequestException(f"Invalid schema content: not valid JSON ({err}).") from err
    if not isinstance(doc, dict):
        raise BadRequestException("Invalid schema content: the document must be a JSON object.")
    try:
        if schema_type == OPENAPI3:
            _check_openapi(doc)
        else:
            Draft4Validator.check_schema(doc)
    except SchemaError as err:
        raise BadRequestException(f"Invalid {schema_type} schema content: {err.message}.") from err
    except RecursionError as err:
        raise BadRequestException(f"Invalid {schema_type} schema content: the document nests too deeply.") from err
    return doc


def _check_openapi(doc: dict[str, Any]) -> None:
    version = doc.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        raise BadRequestException("Invalid OpenApi3 schema content: 'openapi' must be a 3.x version string.")
    if not isinstance(doc.get("info"), dict):
        raise BadRequestException("Invalid OpenApi3 schema content: 'info' must be an object.")
    components = doc.get("components", {})
    schemas = components.get("schemas", {}) if isinstance(components, dict) else None
    if not isinstance(schemas, dict):
        raise BadRequestException("Invalid OpenApi3 schema content: 'components.schemas' must be an object.")
    for name, schema in schemas.items():
        if not isinstance(schema, dict):
            raise BadRequestException(f"Invalid OpenApi3 schema content: component {name} must be an object.")
        Draft4Validator.check_schema(schema)


def root_schema_name(doc: dict[str, Any]) -> str | None:
    """The component an OpenAPI 3 event schema is rooted at: `AWSEvent`, else the first one."""
    schemas = (doc.get("components") or {}).get("schemas") or {}
    if "AWSEvent" in schemas:
        return "AWSEvent"
    return next(iter(schemas), None)


def to_draft4(schema_type: str, doc: dict[str, Any]) -> dict[str, Any]:
    """ExportSchema's `JSONSchemaDraft4` document for a stored schema."""
    if schema_type == JSON_SCHEMA_DRAFT4:
        return doc
    schemas: dict[str, Any] = (doc.get("components") or {}).get("schemas") or {}
    root_name = root_schema_name(doc)
    out: dict[str, Any] = {"$schema": DRAFT4_URI}
    title = (doc.get("info") or {}).get("title")
    if isinstance(title, str):
        out["title"] = title
    if root_name is None:
        out["type"] = "object"
        return out
    definitions = {name: _convert(schema) for name, schema in schemas.items() if name != root_name}
    if definitions:
        out["definitions"] = definitions
    root = _convert(schemas[root_name])
    out.update(root)
    return out


def _copy(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def _fix(node: dict[str, Any]) -> dict[str, Any]:
    fixed = {key: value for key, value in node.items() if key not in _OPENAPI_ONLY}
    ref = fixed.get("$ref")
    if isinstance(ref, str) and ref.startswith(_COMPONENT_REF):
        fixed["$ref"] = "#/definitions/" + ref[len(_COMPONENT_REF) :]
    if node.get("nullable") is True and isinstance(fixed.get("type"), str):
        fixed["type"] = [fixed["type"], "null"]
    return fixed


def _convert(schema: Any) -> Any:
    """Rewrite every schema position of `schema` with `_fix`, without recursion."""
    holder: dict[str, Any] = {}
    stack: list[tuple[Any, Any, Any, str]] = [(schema, holder, "root", "schema")]
    while stack:
        value, parent, key, kind = stack.pop()
        if kind == "schema" and isinstance(value, dict):
            node = _fix(value)
            out = dict.fromkeys(node)
            parent[key] = out
            for name, child in node.items():
                if name in _SCHEMA_MAPS and isinstance(child, dict):
                    stack.append((child, out, name, "map"))
                elif name in _SCHEMA_LISTS and isinstance(child, list):
                    stack.append((child, out, name, "list"))
                elif name in _SCHEMA_VALUES:
                    stack.append((child, out, name, "list" if isinstance(child, list) else "schema"))
                else:
                    out[name] = _copy(child)
        elif kind == "map":
            out_map = dict.fromkeys(value)
            parent[key] = out_map
            for name, child in value.items():
                stack.append((child, out_map, name, "schema"))
        elif kind == "list" and isinstance(value, list):
            out_list: list[Any] = [None] * len(value)
            parent[key] = out_list
            for index, child in enumerate(value):
                stack.append((child, out_list, index, "schema"))
        else:
            parent[key] = _copy(value)
    return holder["root"]
