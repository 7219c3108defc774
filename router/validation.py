"""Request validation driven by the botocore service model, with AWS's own error texts.

AWS's front end (Coral) checks every request against the operation's input shape before any business logic runs:
a member of the wrong JSON type is a `SerializationException`; a broken constraint (required, length, range,
pattern, enum) is a `ValidationException` whose message lists every violation in one sentence, e.g.
`1 validation error detected: Value 'bad name!' at 'name' failed to satisfy constraint: Member must satisfy
regular expression pattern: [\\.\\-_A-Za-z0-9]+`. Paths use lowerCamel member names and `N.member` for the N-th
(1-based) list element, values are rendered the way Java's `toString` would (`null`, `[a, b]`, `Shape(k=v)`), and
sensitive members are never echoed. Unknown members are ignored, and a JSON `null` counts as absent, as on AWS.

PutEvents runs through here on the hot path, so each operation's input shape is compiled once, on first use, into
a tree of small closures; validating a request is then a walk over the body with no model look-ups. Each shape is
compiled twice: the full check, which collects AWS's messages, and a *quick* predicate that only answers "this
value passes" (no paths, no message lists, plain string members tested inline); a request runs the quick one first
and the full one only when the quick one says no, which is exactly when the full one finds something
(tests/router/test_validation_quick.py compares the two on thousands of generated requests).

Two limits AWS documents but the model does not encode (at most 10 targets per PutTargets and 10 ids per
RemoveTargets) are added as list-length constraints, so they read like every other constraint violation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from router.errors import SerializationException, ValidationException
from router.model import events_model

__all__ = ["validate_input", "validator_for"]

_Path = tuple[str | int, ...]
"""Wire member names (str) and 0-based list indexes (int), from the request root."""

_Check = Callable[[Any, _Path, list[str]], None]
"""Checks one value: raises SerializationException for a wrong JSON type, appends constraint violations."""

_DOCUMENTED_LIMITS: dict[tuple[str, str], dict[str, int]] = {
    ("PutTargets", "Targets"): {"max": 10},
    ("RemoveTargets", "Ids"): {"max": 10},
}
"""Per-request entry limits from the API reference that the model leaves at 100."""

_JAVA_ONLY_MEMBERS: dict[str, tuple[str, ...]] = {
    "PutEventsRequestEntry": ("kmsKeyIdentifier", "internalMetadata"),
}
"""Members AWS's Java request classes have beyond the public model, printed (as `null`) when a value is echoed:
AWS's PutEvents message for 11 entries ends each entry with `traceHeader=null, kmsKeyIdentifier=null,
internalMetadata=null)`."""

_ENUM_ORDER: dict[str, tuple[str, ...]] = {
    "ApiDestinationHttpMethod": ("HEAD", "POST", "PATCH", "DELETE", "PUT", "GET", "OPTIONS"),
}
"""Enums whose values AWS lists in an order other than the model's (its Java enum set's iteration order)."""

_CASE_INSENSITIVE_ENUMS = frozenset({"ConnectionOAuthHttpMethod"})
"""Enums AWS accepts in any letter case: an OAuth connection with `"HttpMethod": "put"` is created."""

_Quick = Callable[[Any], bool]
"""True exactly when the full check of the same shape would pass the value (no violation, no wrong type)."""

_compiled: dict[str, tuple[_Quick, _Check]] = {}


def validate_input(operation: str, body: dict[str, Any]) -> None:
    """Validate a request body against `operation`'s input shape, or raise the error AWS would."""
    compiled = _compiled.get(operation)
    if compiled is None:
        compiled = _compiled[operation] = _compile_operation(operation)
    quick, check = compiled
    if not quick(body):
        _run(check, body)


def validator_for(shape: StructureShape) -> Callable[[dict[str, Any]], None]:
    """A validator for any service's input shape (e.g. EventBridge Scheduler's), with the same texts."""
    check = _compile_structure(shape, {})
    quick = _quick_structure(shape, {})

    def validate(body: dict[str, Any]) -> None:
        if not quick(body):
            _run(check, body)

    return validate


def _run(check: _Check, body: dict[str, Any]) -> None:
    errors: list[str] = []
    check(body, (), errors)
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(f"{count} validation {noun} detected: " + "; ".join(errors))


# -- compilation ----------------------------------------------------------------------------------------------


def _compile_operation(operation: str) -> tuple[_Quick, _Check]:
    shape = events_model().operation_model(operation).input_shape
    if shape is None:
        return _accept_anything, _accept_object
    overlays = {member: limit for (op, member), limit in _DOCUMENTED_LIMITS.items() if op == operation}
    return _quick_structure(shape, overlays), _compile_structure(shape, overlays)


def _accept_anything(value: Any) -> bool:
    return True


def _accept_object(value: Any, path: _Path, errors: list[str]) -> None:
    return None


def _compile(shape: Shape, extra: dict[str, int] | None = None) -> _Check:
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        return _compile_structure(shape, {})
    if isinstance(shape, ListShape):
        return _compile_list(shape, extra or {})
    if isinstance(shape, MapShape):
        return _compile_map(shape)
    if kind == "string":
        return _compile_string(shape)
    if kind in ("integer", "long"):
        return _compile_integer(shape)
    if kind == "boolean":
        return _type_only(lambda v: isinstance(v, bool), "a boolean")
    if kind in ("timestamp", "float", "double"):
        return _type_only(lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number")
    if kind == "blob":
        return _type_only(lambda v: isinstance(v, str), "a base64 string")
    raise RuntimeError(f"unsupported shape type {kind} ({shape.name})")  # pragma: no cover - model has none


def _compile_structure(shape: StructureShape, overlays: dict[str, dict[str, int]]) -> _Check:
    required = frozenset(shape.required_members)
    members: list[tuple[str, bool, _Check]] = []
    for name, member in shape.members.items():
        members.append((name, name in required, _compile(member, overlays.get(name))))

    def check(value: Any, path: _Path, errors: list[str]) -> None:
        if not isinstance(value, dict):
            raise _wrong_type(path, "an object", value)
        for name, is_required, member_check in members:
            item = value.get(name)
            if item is None:
                if is_required:
                    errors.append(
                        f"Value null at '{_coral_path((*path, name))}' failed to satisfy constraint: "
                        "Member must not be null"
                    )
                continue
            member_check(item, (*path, name), errors)

    return check


def _compile_list(shape: ListShape, extra: dict[str, int]) -> _Check:
    low = shape.metadata.get("min")
    highs = [limit for limit in (shape.metadata.get("max"), extra.get("max")) if limit is not None]
    high_limit = min(highs) if highs else None
    item_shape = shape.member
    scalar_items = not isinstance(item_shape, StructureShape | ListShape | MapShape)
    item_check = _compile(item_shape)
    item_rules = _scalar_rules(item_shape) if scalar_items else None

    def check(value: Any, path: _Path, errors: list[str]) -> None:
        if not isinstance(value, list):
            raise _wrong_type(path, "a list", value)
        size = len(value)
        if high_limit is not None and size > high_limit:
            errors.append(_violation(value, path, shape, f"Member must have length less than or equal to {high_limit}"))
        if low is not None and size < low:
            errors.append(_violation(value, path, shape, f"Member must have length greater than or equal to {low}"))
        if item_rules is not None:
            # AWS reports element constraints of scalar lists once, at the list: "Member must satisfy constraint".
            found: list[str] = []
            for index, item in enumerate(value):
                if item is None:
                    _add_once(found, "Member must not be null")
                    continue
                item_check(item, (*path, index), [])  # type check only
                for message in item_rules(item):
                    _add_once(found, message)
            if found:
                errors.append(_violation(value, path, shape, f"Member must satisfy constraint: [{', '.join(found)}]"))
            return
        for index, item in enumerate(value):
            if item is None:
                errors.append(
                    f"Value null at '{_coral_path((*path, index))}' failed to satisfy constraint: "
                    "Member must not be null"
                )
                continue
            item_check(item, (*path, index), errors)

    return check


def _compile_map(shape: MapShape) -> _Check:
    high = shape.metadata.get("max")
    key_rules = _scalar_rules(shape.key)
    value_shape = shape.value
    value_check = _compile(value_shape)
    value_rules = (
        _scalar_rules(value_shape) if not isinstance(value_shape, StructureShape | ListShape | MapShape) else None
    )

    def check(value: Any, path: _Path, errors: list[str]) -> None:
        if not isinstance(value, dict):
            raise _wrong_type(path, "an object", value)
        if high is not None and len(value) > high:
            errors.append(_violation(value, path, shape, f"Member must have length less than or equal to {high}"))
        key_found: list[str] = []
        value_found: list[str] = []
        for key, item in value.items():
            for message in key_rules(key):
                _add_once(key_found, message)
            if item is None:
                _add_once(value_found, "Member must not be null")
                continue
            value_check(item, (*path, key), errors if value_rules is None else [])
            if value_rules is not None:
                for message in value_rules(item):
                    _add_once(value_found, message)
        if key_found:
            errors.append(_violation(value, path, shape, f"Map keys must satisfy constraint: [{', '.join(key_found)}]"))
        if value_found:
            errors.append(
                _violation(value, path, shape, f"Map value must satisfy constraint: [{', '.join(value_found)}]")
            )

    return check


def _compile_string(shape: Shape) -> _Check:
    rules = _scalar_rules(shape)

    def check(value: Any, path: _Path, errors: list[str]) -> None:
        if not isinstance(value, str):
            raise _wrong_type(path, "a string", value)
        errors.extend(_violation(value, path, shape, message) for message in rules(value))

    return check


def _compile_integer(shape: Shape) -> _Check:
    rules = _scalar_rules(shape)

    def check(value: Any, path: _Path, errors: list[str]) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _wrong_type(path, "an integer", value)
        errors.extend(_violation(value, path, shape, message) for message in rules(value))

    return check


def _type_only(accepts: Callable[[Any], bool], expected: str) -> _Check:
    def check(value: Any, path: _Path, errors: list[str]) -> None:
        if not accepts(value):
            raise _wrong_type(path, expected, value)

    return check


def _scalar_rules(shape: Shape) -> Callable[[Any], list[str]]:
    """The constraint messages a scalar value breaks, in AWS's order: pattern, length, range, enum."""
    meta = shape.metadata
    if shape.type_name in ("integer", "long"):
        low, high = meta.get("min"), meta.get("max")

        def number_rules(value: Any) -> list[str]:
            if not isinstance(value, int) or isinstance(value, bool):
                return []
            out = []
            if low is not None and value < low:
                out.append(f"Member must have value greater than or equal to {low}")
            if high is not None and value > high:
                out.append(f"Member must have value less than or equal to {high}")
            return out

        return number_rules
    if shape.type_name != "string":
        return lambda value: []
    pattern_text = meta.get("pattern")
    pattern = _compile_pattern(pattern_text) if pattern_text is not None else None
    low, high = meta.get("min"), meta.get("max")
    enum = _ENUM_ORDER.get(shape.name) or meta.get("enum")
    folded = shape.name in _CASE_INSENSITIVE_ENUMS
    enum_values = frozenset(value.upper() if folded else value for value in enum) if enum else None
    enum_text = f"Member must satisfy enum value set: [{', '.join(enum)}]" if enum else ""

    def string_rules(value: Any) -> list[str]:
        if not isinstance(value, str):
            return []
        out = []
        if pattern is not None and pattern.fullmatch(value) is None:
            out.append(f"Member must satisfy regular expression pattern: {pattern_text}")
        size = len(value)
        if low is not None and size < low:
            out.append(f"Member must have length greater than or equal to {low}")
        if high is not None and size > high:
            out.append(f"Member must have length less than or equal to {high}")
        if enum_values is not None and (value.upper() if folded else value) not in enum_values:
            out.append(enum_text)
        return out

    return string_rules


def _compile_pattern(text: str) -> re.Pattern[str]:
    """Compile a model (Java) regex. Python has no `\\p{..}` classes: letters and numbers become `\\w`,
    separators `\\s` (only RunCommandTargetKey uses them)."""
    try:
        return re.compile(text, re.DOTALL)
    except re.error:
        translated = text.replace(r"\p{L}", r"\w").replace(r"\p{N}", r"\w").replace(r"\p{Z}", r"\s")
        return re.compile(translated, re.DOTALL)


# -- quick predicates: the same acceptance as the checks above, without building any message ----------------


def _quick(shape: Shape, extra: dict[str, int] | None = None) -> _Quick | None:
    """The predicate of `shape`; None for a string without constraints (its members test `type(v) is str`
    inline). Exact types: JSON gives no subclasses, and a subclass only costs the full check."""
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        return _quick_structure(shape, {})
    if isinstance(shape, ListShape):
        return _quick_list(shape, extra or {})
    if isinstance(shape, MapShape):
        return _quick_map(shape)
    if kind == "string":
        meta = shape.metadata
        if not any(name in meta for name in ("pattern", "min", "max", "enum")) and shape.name not in _ENUM_ORDER:
            return None
        string_rules = _scalar_rules(shape)
        return lambda v: type(v) is str and not string_rules(v)
    if kind in ("integer", "long"):
        number_rules = _scalar_rules(shape)
        return lambda v: type(v) is int and not number_rules(v)
    if kind == "boolean":
        return lambda v: type(v) is bool
    if kind in ("timestamp", "float", "double"):
        return lambda v: type(v) is int or type(v) is float
    if kind == "blob":
        return lambda v: type(v) is str
    raise RuntimeError(f"unsupported shape type {kind} ({shape.name})")  # pragma: no cover - model has none


def _plain_string(v: Any) -> bool:
    return type(v) is str


def _quick_structure(shape: StructureShape, overlays: dict[str, dict[str, int]]) -> _Quick:
    required = frozenset(shape.required_members)
    members = [(name, name in required, _quick(member, overlays.get(name))) for name, member in shape.members.items()]

    def quick(value: Any) -> bool:
        if type(value) is not dict:
            return False
        for name, is_required, member_quick in members:
            item = value.get(name)
            if item is None:
                if is_required:
                    return False
            elif member_quick is None:
                if type(item) is not str:
                    return False
            elif not member_quick(item):
                return False
        return True

    return quick


def _quick_list(shape: ListShape, extra: dict[str, int]) -> _Quick:
    low = shape.metadata.get("min")
    highs = [limit for limit in (shape.metadata.get("max"), extra.get("max")) if limit is not None]
    high = min(highs) if highs else None
    item_quick = _quick(shape.member) or _plain_string

    def quick(value: Any) -> bool:
        if type(value) is not list:
            return False
        size = len(value)
        if (high is not None and size > high) or (low is not None and size < low):
            return False
        return all(item is not None and item_quick(item) for item in value)

    return quick


def _quick_map(shape: MapShape) -> _Quick:
    high = shape.metadata.get("max")
    key_rules = _scalar_rules(shape.key)
    value_quick = _quick(shape.value) or _plain_string

    def quick(value: Any) -> bool:
        if type(value) is not dict or (high is not None and len(value) > high):
            return False
        return all(not key_rules(key) and item is not None and value_quick(item) for key, item in value.items())

    return quick


# -- messages -------------------------------------------------------------------------------------------------


def _add_once(found: list[str], message: str) -> None:
    if message not in found:
        found.append(message)


def _violation(value: Any, path: _Path, shape: Shape, constraint: str) -> str:
    where = _coral_path(path)
    if shape.metadata.get("sensitive"):
        return f"Value at '{where}' failed to satisfy constraint: {constraint}"
    return f"Value '{_render(value, shape)}' at '{where}' failed to satisfy constraint: {constraint}"


def _coral_path(path: _Path) -> str:
    """`("Targets", 0, "Id")` -> `targets.1.member.id`: AWS's lowerCamel, 1-based element paths."""
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"{part + 1}.member")
        else:
            parts.append(part[:1].lower() + part[1:])
    return ".".join(parts)


def _wire_path(path: _Path) -> str:
    """`("Targets", 0, "Id")` -> `Targets[0].Id`: the member as the client wrote it."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(request body)"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _wrong_type(path: _Path, expected: str, value: Any) -> SerializationException:
    return SerializationException(f"Member {_wire_path(path)} must be {expected}, not {_json_type(value)}.")


def _render(value: Any, shape: Shape | None) -> str:
    """Java-`toString`-like rendering of a request value, as AWS echoes it in validation messages:
    `null`, `[a, b]`, `{k=v}` for maps and `ShapeName(member=value, ...)` for structures."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        item_shape = shape.member if isinstance(shape, ListShape) else None
        return "[" + ", ".join(_render(item, item_shape) for item in value) + "]"
    if isinstance(value, dict):
        if isinstance(shape, StructureShape):
            fields = ", ".join(
                f"{name[:1].lower()}{name[1:]}={_render(value.get(name), member)}"
                for name, member in shape.members.items()
            )
            fields += "".join(f", {name}=null" for name in _JAVA_ONLY_MEMBERS.get(shape.name, ()))
            return f"{shape.name}({fields})"
        item_shape = shape.value if isinstance(shape, MapShape) else None
        return "{" + ", ".join(f"{key}={_render(item, item_shape)}" for key, item in value.items()) + "}"
    return str(value)
