"""Input shaping: what a target receives, from its `Input`, `InputPath` or `InputTransformer` and the event.

Pure functions, no I/O, so the delivery engine calls `render_input` once per (event, target) and the PutTargets
handler calls `validate_target_input` once per target. The semantics follow the EventBridge user guide
("Amazon EventBridge input transformation") and the behaviour AWS showed in recorded runs; `docs/delivery.md`
lists each choice and where it comes from:

- No shaping field: the whole event, as compact JSON.
- `Input`: the constant text, delivered byte for byte (it must be valid JSON; PutTargets checks that).
- `InputPath`: the JSONPath selection, as compact JSON (a string selection is delivered quoted: `"baz"`). A path
  that selects nothing gives `None`: nothing to deliver.
- `InputTransformer`: each `<name>` placeholder is replaced by its variable. In a JSON template (one that starts
  with `{` or `[`), a placeholder outside a JSON string becomes the value's JSON encoding, and one inside a quoted
  string has the value's raw text spliced in without escaping (AWS: "EventBridge doesn't escape values extracted by
  Input Path"). In any other template (a quoted string or free text) every placeholder gets the raw text. A
  variable whose path does not exist in the event is the empty string (AWS renders `"command": ""` for a bare
  `<command>` and nothing inside a string). A JSON template whose result parses as JSON is delivered minified.

Bounds: a shaped input is at most `MAX_INPUT_BYTES` (1 MiB, or the event's size when larger): rendering counts
bytes as it goes and raises `InputTooLarge` as soon as the limit is passed (a template naming one variable 2,000
times cannot build 500 MB first), and each variable is encoded once however often it repeats. JSON text is made by
`router.json_text`, which handles any depth without recursion (orjson alone stops at 254 levels, while PutEvents
accepts a Detail 1,000 deep).

The JSONPath subset is AWS's: `$`, dot notation with names that may hold dashes, slashes and leading digits,
array indices `[N]` and the wildcard `*`. It is written here because the well-kept libraries (jsonpath-ng, the one
moto uses) lex dot names as identifiers and reject the slashes and leading digits AWS accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from router import json_text

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_INPUT_PATHS",
    "PREDEFINED_VARIABLES",
    "InputTooLarge",
    "InvocationContext",
    "input_limit_bytes",
    "render_event",
    "render_input",
    "select_path",
    "validate_target_input",
]

MAX_INPUT_BYTES = 1_048_576
"""The most a shaped input may hold: 1 MiB, the largest payload AWS's targets take (an SQS message, a Lambda
asynchronous invocation) and EventBridge's own event size limit. `input_limit_bytes` raises it to the event's size
for a larger event, so shaping never refuses what delivering the whole event would not."""

MAX_INPUT_PATHS = 100
"""At most this many InputPathsMap variables (the model's `TransformerPaths` max)."""

RULE_ARN = "aws.events.rule-arn"
RULE_NAME = "aws.events.rule-name"
INGESTION_TIME = "aws.events.event.ingestion-time"
EVENT = "aws.events.event"
EVENT_JSON = "aws.events.event.json"
PREDEFINED_VARIABLES = frozenset({RULE_ARN, RULE_NAME, INGESTION_TIME, EVENT, EVENT_JSON})
"""Reserved variables every template may use without defining them."""

_MISSING: Any = object()
_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+")
_PLACEHOLDER_RE = re.compile(r"<([A-Za-z0-9_\-.]+)>")
_PATH_TOKEN_RE = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")


@dataclass(frozen=True, slots=True)
class InvocationContext:
    """What a transformer may refer to besides the event: the rule that matched and when the event arrived."""

    rule_arn: str
    rule_name: str
    ingestion_time: datetime

    @property
    def ingestion_time_iso(self) -> str:
        """ISO 8601 in UTC at second precision, the format of the envelope's `time`."""
        return self.ingestion_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- rendering -------------------------------------------------------------------------------------------


class InputTooLarge(Exception):
    """Shaping would give a target more than the input size limit; the delivery fails for good (INPUT_ERROR)."""


def input_limit_bytes(event_bytes: int) -> int:
    """The most a target's shaped input may hold for an event of `event_bytes`: `MAX_INPUT_BYTES`, or the event's
    own size when that is larger (so an `InputPath` of `$` delivers whatever PutEvents accepted)."""
    return max(MAX_INPUT_BYTES, event_bytes)


def render_event(target: Mapping[str, Any], event: bytes, context: InvocationContext) -> bytes | None:
    """`render_input` for an event as ingested (JSON bytes), with the size limit `input_limit_bytes` gives."""
    return render_input(target, orjson.loads(event), context, limit_bytes=input_limit_bytes(len(event)))


def render_input(
    target: Mapping[str, Any],
    event: Mapping[str, Any],
    context: InvocationContext,
    *,
    limit_bytes: int = MAX_INPUT_BYTES,
) -> bytes | None:
    """The payload to deliver to `target` for `event`; None when an InputPath selects nothing.

    InputTooLarge when the payload would exceed `limit_bytes`: building stops as soon as it does."""
    constant = target.get("Input")
    if constant is not None:
        return _within(str(constant).encode(), limit_bytes, target)
    path = target.get("InputPath")
    if path is not None:
        selected = _select(event, path)
        return None if selected is _MISSING else _encode(selected, limit_bytes, target)
    transformer = target.get("InputTransformer")
    if transformer is not None:
        return _render_template(transformer, event, context, limit_bytes, target)
    return _encode(event, limit_bytes, target)


def _too_large(target: Mapping[str, Any], limit_bytes: int) -> InputTooLarge:
    return InputTooLarge(
        f"The input for target {target.get('Id', '')} is larger than {limit_bytes} bytes, the most a target "
        "receives; it was not delivered."
    )


def _within(payload: bytes, limit_bytes: int, target: Mapping[str, Any]) -> bytes:
    if len(payload) > limit_bytes:
        raise _too_large(target, limit_bytes)
    return payload


def _encode(value: Any, limit_bytes: int, target: Mapping[str, Any]) -> bytes:
    try:
        return json_text.dumps(value, limit_bytes)
    except json_text.TooLarge:
        raise _too_large(target, limit_bytes) from None


def select_path(document: Any, path: str, default: Any = None) -> Any:
    """Evaluate an AWS JSONPath on `document`; `default` when it selects nothing. Wildcard paths give a list."""
    selected = _select(document, path)
    return default if selected is _MISSING else selected


def _select(document: Any, path: str) -> Any:
    tokens = _parse_path(path)
    if tokens is None:
        return _MISSING
    matches = [document]
    wildcard = False
    for name, index in tokens:
        found: list[Any] = []
        for node in matches:
            if index is None and name != "*":
                if isinstance(node, dict) and name in node:
                    found.append(node[name])
            elif index in (None, "*"):
                wildcard = True
                if isinstance(node, list):
                    found.extend(node)
                elif isinstance(node, dict):
                    found.extend(node.values())
            elif index is not None and isinstance(node, list) and int(index) < len(node):
                found.append(node[int(index)])
        matches = found
    if wildcard:
        return matches if matches else _MISSING
    return matches[0] if matches else _MISSING


def _parse_path(path: str) -> list[tuple[str, str | None]] | None:
    """`$.a.b[0]` -> [("a", None), ("b", None), ("", "0")]; None when the text is not a path we understand."""
    text = path.strip()
    if not text.startswith("$"):
        return None
    rest = text[1:]
    tokens: list[tuple[str, str | None]] = []
    pos = 0
    while pos < len(rest):
        match = _PATH_TOKEN_RE.match(rest, pos)
        if match is None:
            return None
        name, index = match.group(1), match.group(2)
        tokens.append((name, None) if name is not None else ("", index))
        pos = match.end()
    return tokens


def _variables(transformer: Mapping[str, Any], event: Mapping[str, Any], context: InvocationContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, path in (transformer.get("InputPathsMap") or {}).items():
        selected = _select(event, str(path))
        values[key] = "" if selected is _MISSING else selected
    without_detail = {("detailType" if k == "detail-type" else k): v for k, v in event.items() if k != "detail"}
    values.update(
        {
            RULE_ARN: context.rule_arn,
            RULE_NAME: context.rule_name,
            INGESTION_TIME: context.ingestion_time_iso,
            EVENT: without_detail,
            EVENT_JSON: dict(event),
        }
    )
    return values


def _render_template(
    transformer: Mapping[str, Any],
    event: Mapping[str, Any],
    context: InvocationContext,
    limit_bytes: int,
    target: Mapping[str, Any],
) -> bytes:
    template = str(transformer.get("InputTemplate", ""))
    values = _variables(transformer, event, context)
    is_json = template.lstrip()[:1] in ("{", "[")
    texts: dict[tuple[str, bool], tuple[str, int]] = {}
    """Each variable's text and its size in bytes, encoded once however often the template repeats it."""
    out: list[str] = []
    size = len(template.encode())  # the template's text; each placeholder's text is taken off as it is replaced
    in_string = False
    pos = 0
    while pos < len(template):
        char = template[pos]
        if char == "<":
            match = _PLACEHOLDER_RE.match(template, pos)
            if match is not None and match.group(1) in values:
                as_json = is_json and not in_string
                known = texts.get((match.group(1), as_json))
                if known is None:
                    value = values[match.group(1)]
                    encoded = _encode(value, limit_bytes, target) if as_json else _raw_bytes(value, limit_bytes, target)
                    known = texts[(match.group(1), as_json)] = (encoded.decode(), len(encoded))
                text, text_bytes = known
                size += text_bytes - (match.end() - pos)
                if size > limit_bytes:
                    raise _too_large(target, limit_bytes)
                out.append(text)
                pos = match.end()
                continue
        elif char == "\\" and in_string:
            out.append(template[pos : pos + 2])
            pos += 2
            continue
        elif char == '"':
            in_string = not in_string
        out.append(char)
        pos += 1
    rendered = "".join(out)
    if is_json:
        minified = json_text.minify(rendered)
        if minified is not None:
            rendered = minified
        # else: raw splicing made it invalid JSON; AWS delivers such text as it is
    return _within(rendered.encode(), limit_bytes, target)


def _raw_bytes(value: Any, limit_bytes: int, target: Mapping[str, Any]) -> bytes:
    """A string's own text, unquoted and unescaped (AWS splices it raw); any other value's JSON."""
    return value.encode() if isinstance(value, str) else _encode(value, limit_bytes, target)


# --- validation (PutTargets) -----------------------------------------------------------------------------


def validate_target_input(target: Mapping[str, Any]) -> str | None:
    """AWS's PutTargets ValidationException message for a target's input fields, or None when they are fine."""
    target_id = target.get("Id", "")
    present = [name for name in ("Input", "InputPath", "InputTransformer") if target.get(name) is not None]
    if len(present) > 1:
        return f"Only one of Input, InputPath, or InputTransformer must be provided for target {target_id}."
    constant = target.get("Input")
    if constant is not None:
        try:
            orjson.loads(constant)
        except (orjson.JSONDecodeError, TypeError):
            return f"Input for target {target_id} is not a valid JSON text."
    transformer = target.get("InputTransformer")
    if transformer is not None:
        return _validate_transformer(target_id, transformer)
    return None


def _validate_transformer(target_id: str, transformer: Mapping[str, Any]) -> str | None:
    paths = transformer.get("InputPathsMap") or {}
    if len(paths) > MAX_INPUT_PATHS:
        return f"InputPathsMap for target {target_id} has more than {MAX_INPUT_PATHS} entries."
    for key in paths:
        if key in PREDEFINED_VARIABLES or key.lower().startswith("aws."):
            return f"InputPathsMap for target {target_id} contains reserved key {key}."
        if not _KEY_RE.fullmatch(key) or len(key) > 256:
            return f"InputPathsMap for target {target_id} contains invalid key {key}."
    template = str(transformer.get("InputTemplate", ""))
    for name in _PLACEHOLDER_RE.findall(template):
        if name not in paths and name not in PREDEFINED_VARIABLES:
            return f"InputTemplate for target {target_id} contains invalid placeholder {name}."
    return None
