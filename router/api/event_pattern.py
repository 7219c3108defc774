"""TestEventPattern: does this pattern match this event? Answers `{"Result": bool}`.

The pattern is validated exactly as PutRule does (AWS's InvalidEventPatternException text). The event must be a
JSON object with the envelope fields AWS insists on: `id`, `account`, `source`, `time`, `region` and
`detail-type`; anything else is "Parameter Event is not valid.". The API reference also lists `resources`, but
AWS accepts events without it (recorded runs), so we do too.
"""

from __future__ import annotations

from typing import Any

import orjson

import patterns
from router.api.rules import validate_pattern
from router.errors import ValidationException
from router.protocol import Handler
from router.state import AppState

REQUIRED_EVENT_FIELDS = ("id", "account", "source", "time", "region", "detail-type")


async def test_event_pattern(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    pattern: str = body["EventPattern"]
    event_text: str = body["Event"]
    validate_pattern(pattern)
    try:
        event = orjson.loads(event_text)
    except orjson.JSONDecodeError as err:
        raise ValidationException("Parameter Event is not valid.") from err
    if not isinstance(event, dict) or any(field not in event for field in REQUIRED_EVENT_FIELDS):
        raise ValidationException("Parameter Event is not valid.")
    try:
        result = patterns.matches(pattern, event_text)
    except patterns.InvalidEvent as err:
        raise ValidationException(f"Parameter Event is not valid. Reason: {err.message}") from err
    return {"Result": bool(result)}


OPERATIONS: dict[str, Handler] = {"TestEventPattern": test_event_pattern}
