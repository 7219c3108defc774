"""The event envelope and AWS's PutEvents size formula: pure functions, no I/O.

A PutEvents entry becomes the JSON envelope every rule and target sees (`version`, `id`, `detail-type`, `source`,
`account`, `time`, `region`, `resources`, `detail`, in AWS's order). The envelope is serialized once, here, with
orjson (the Detail text, once validated, is spliced in unchanged), and stored as bytes in the bus's ingest stream;
nothing downstream re-encodes it.

Validation that can fail one entry alone (a missing field, a malformed Detail) raises `EntryError`, which carries the
per-entry wire code and message; the caller turns it into a positional failure. Wrong JSON *types* are a whole-request
`SerializationException`, as on AWS, and are checked before any entry is built (see `check_entry_types`).

AWS's size rule (§7.1 of the API notes): per entry, `Time` counts 14 bytes if present, plus the UTF-8 bytes of
`Source`, `DetailType`, `Detail` and each `Resources` item; the limit applies to the sum over the request.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from typing import Any

import orjson

from router.errors import SerializationException

TIME_SIZE_BYTES = 14
"""What AWS's entry-size formula charges for a present `Time`."""

MAX_DETAIL_DEPTH = 1000
"""EventBridge processes nested JSON to about 1000 levels (the model doc); deeper Detail is MalformedDetail."""

MAX_DETAIL_TYPE_CHARS = 128

_STRING_FIELDS = ("Source", "DetailType", "Detail", "EventBusName", "TraceHeader")

_VARIANT = "89ab89ab89ab89ab"
"""RFC 4122 variant nibble (10xx) for each value of a random hex digit: its two low bits are kept."""


def uuid4_strings(count: int) -> list[str]:
    """`count` random version-4 UUID strings (as `str(uuid.uuid4())`) from one `os.urandom` call.

    Each id keeps 122 random bits, as `uuid4`; only the system call and the `UUID` object per id are saved (about 5x
    cheaper per id). Event ids (AWS shows a UUID) and queue message ids use it."""
    digits = os.urandom(16 * count).hex()
    return [
        f"{digits[i : i + 8]}-{digits[i + 8 : i + 12]}-4{digits[i + 13 : i + 16]}-"
        f"{_VARIANT[int(digits[i + 16], 16)]}{digits[i + 17 : i + 20]}-{digits[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


class EntryError(Exception):
    """One entry failed on its own; `code` and `message` go to that entry's result."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def entry_size_bytes(entry: dict[str, Any]) -> int:
    """AWS's size of one entry. Types must already be checked (`check_entry_types`)."""
    size = TIME_SIZE_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        value = entry.get(name)
        if value is not None:
            size += _utf8_len(value)
    for resource in entry.get("Resources") or ():
        size += _utf8_len(resource)
    return size


def check_entry_types(entries: list[Any]) -> None:
    """Reject wrong JSON types in the whole request, before anything is appended (SerializationException)."""
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise SerializationException(f"Entries[{index}] must be a JSON object.")
        for name in _STRING_FIELDS:
            value = entry.get(name)
            if value is not None and not isinstance(value, str):
                raise SerializationException(f"Entries[{index}].{name} must be a string.")
        resources = entry.get("Resources")
        if resources is not None and (
            not isinstance(resources, list) or not all(isinstance(r, str) for r in resources)
        ):
            raise SerializationException(f"Entries[{index}].Resources must be a list of strings.")
        time_value = entry.get("Time")
        if time_value is not None and (isinstance(time_value, bool) or not isinstance(time_value, int | float | str)):
            raise SerializationException(
                f"Entries[{index}].Time must be a timestamp (epoch seconds or an RFC 3339 string)."
            )


def _required(entry: dict[str, Any], name: str) -> str:
    value: str | None = entry.get(name)
    if not value:
        raise EntryError("InvalidArgument", f"Parameter {name} is not valid. Reason: {name} is a required argument.")
    return value


def parse_detail(detail: str) -> dict[str, Any]:
    """The Detail string as a JSON object, or EntryError(MalformedDetail)."""
    try:
        parsed = orjson.loads(detail)
    except orjson.JSONDecodeError as err:  # also orjson's own recursion limit (1024 levels)
        raise EntryError("MalformedDetail", "Detail is malformed.") from err
    if not isinstance(parsed, dict):
        raise EntryError("MalformedDetail", "Detail is malformed.")
    # Only a text with more than MAX_DETAIL_DEPTH openers can be that deep; skip the walk for everything else.
    if detail.count("{") + detail.count("[") > MAX_DETAIL_DEPTH and _depth(parsed) > MAX_DETAIL_DEPTH:
        raise EntryError("MalformedDetail", "Detail is malformed.")
    return parsed


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


_call_second: tuple[int, str] = (-1, "")
"""The last call time formatted (its whole second, its text): requests of the same second share it. Replaced
whole, never changed in place, so a worker thread building envelopes reads a consistent pair."""


def _call_time(now_s: float) -> str:
    global _call_second
    second = math.floor(now_s)
    cached = _call_second
    if cached[0] != second:
        cached = _call_second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return cached[1]


def format_time(value: int | float | str | None, now_s: float) -> str:
    """The envelope `time`: `Time` (epoch seconds or RFC 3339) or the call time, as `YYYY-MM-DDTHH:MM:SSZ` UTC."""
    if value is None:
        return _call_time(now_s)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = _epoch_string(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        try:
            moment = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as err:
            raise EntryError("InvalidArgument", "Parameter Time is not valid. Reason: Time is out of range.") from err
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch_string(value: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError) as err:
        raise EntryError(
            "InvalidArgument",
            "Parameter Time is not valid. Reason: Time must be epoch seconds or an RFC 3339 timestamp.",
        ) from err


def build_envelope(
    entry: dict[str, Any],
    *,
    account: str,
    region: str,
    now_s: float,
    event_id: str | None = None,
    now_text: str | None = None,
) -> tuple[str, bytes]:
    """Validate one entry and return (event id, envelope JSON). Raises EntryError for a per-entry failure.

    `event_id` (a fresh UUID when omitted) and `now_text` (`format_time(None, now_s)`, computed when omitted) let a
    caller that builds a whole request's envelopes make them once per request."""
    source = _required(entry, "Source")
    detail_type = _required(entry, "DetailType")
    detail_text = _required(entry, "Detail")
    if len(detail_type) > MAX_DETAIL_TYPE_CHARS:
        raise EntryError(
            "InvalidArgument",
            f"Parameter DetailType is not valid. Reason: DetailType is longer than {MAX_DETAIL_TYPE_CHARS} characters.",
        )
    parse_detail(detail_text)
    if event_id is None:
        event_id = uuid4_strings(1)[0]
    time_value = entry.get("Time")
    if time_value is None:
        when = now_text if now_text is not None else format_time(None, now_s)
    else:
        when = format_time(time_value, now_s)
    head = {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": when,
        "region": region,
        "resources": entry.get("Resources") or [],
    }
    # The validated Detail text is spliced in as sent: no re-encoding (orjson's encoder also stops at 254 levels,
    # while AWS accepts 1000).
    return event_id, orjson.dumps(head)[:-1] + b',"detail":' + detail_text.encode("utf-8", "surrogatepass") + b"}"
