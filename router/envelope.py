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
from datetime import UTC, datetime
from typing import Any

import orjson

from router import uuids
from router.errors import SerializationException

TIME_SIZE_BYTES = 14
"""What AWS's entry-size formula charges for a present `Time`."""

MAX_DETAIL_DEPTH = 1000
"""EventBridge processes nested JSON to about 1000 levels (the model doc); deeper Detail is MalformedDetail."""

MAX_DETAIL_TYPE_CHARS = 128

_STRING_FIELDS = ("Source", "DetailType", "Detail", "EventBusName", "TraceHeader")


class EntryError(Exception):
    """One entry failed on its own; `code` and `message` go to that entry's result."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def entry_size_bytes(entry: dict[str, Any]) -> int:
    """AWS's size of one entry (its types checked too: `checked_size_bytes`)."""
    return checked_size_bytes([entry])


def check_entry_types(entries: list[Any]) -> None:
    """Reject wrong JSON types in the whole request, before anything is appended (SerializationException)."""
    checked_size_bytes(entries)


def checked_size_bytes(entries: list[Any]) -> int:
    """`check_entry_types(entries)`, then AWS's size of the whole request (the sum of `entry_size_bytes`), in one
    pass over the entries: the same errors, raised for the same first offending entry."""
    size = 0
    for index, entry in enumerate(entries):
        size += entry_fields(entry, index)[6]
    return size


Fields = tuple[Any, Any, Any, Any, Any, Any, int]
"""An entry's (Source, DetailType, Detail, EventBusName, Time, Resources, AWS's size in bytes), types checked."""


def entry_fields(entry: Any, index: int) -> Fields:
    """The members of entry `index` an envelope is built from, each read once, with its AWS size; a wrong JSON type
    is SerializationException, the first in `_STRING_FIELDS`, then Resources, then Time order."""
    if not isinstance(entry, dict):
        raise SerializationException(f"Entries[{index}] must be a JSON object.")
    get = entry.get
    source, detail_type, detail, bus_name = get("Source"), get("DetailType"), get("Detail"), get("EventBusName")
    if not (
        isinstance(source, _TEXT)
        and isinstance(detail_type, _TEXT)
        and isinstance(detail, _TEXT)
        and isinstance(bus_name, _TEXT)
        and isinstance(get("TraceHeader"), _TEXT)
    ):
        name = next(name for name in _STRING_FIELDS if not isinstance(get(name), _TEXT))
        raise SerializationException(f"Entries[{index}].{name} must be a string.")
    size = 0
    resources = get("Resources")
    if resources is not None and (not isinstance(resources, list) or not all(isinstance(r, str) for r in resources)):
        raise SerializationException(f"Entries[{index}].Resources must be a list of strings.")
    time_value = get("Time")
    if time_value is not None:
        if isinstance(time_value, bool) or not isinstance(time_value, int | float | str):
            raise SerializationException(
                f"Entries[{index}].Time must be a timestamp (epoch seconds or an RFC 3339 string)."
            )
        size += TIME_SIZE_BYTES
    if source is not None and detail_type is not None and detail is not None:  # the usual entry: one test
        if source.isascii() and detail_type.isascii() and detail.isascii():
            size += len(source) + len(detail_type) + len(detail)
        else:
            size += _utf8_len(source) + _utf8_len(detail_type) + _utf8_len(detail)
    else:
        for value in (source, detail_type, detail):
            if value is not None:
                size += _utf8_len(value)
    if resources:
        for resource in resources:
            size += _utf8_len(resource)
    return source, detail_type, detail, bus_name, time_value, resources, size


_TEXT = (str, type(None))
"""What a string member may hold: a string, or nothing (JSON null counts as absent)."""


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def parse_detail(detail: str) -> dict[str, Any]:
    """The Detail string as a JSON object, or EntryError(MalformedDetail)."""
    try:
        parsed = orjson.loads(detail)
    except orjson.JSONDecodeError as err:  # also orjson's own recursion limit (1024 levels)
        raise EntryError("MalformedDetail", "Detail is malformed.") from err
    if not isinstance(parsed, dict):
        raise EntryError("MalformedDetail", "Detail is malformed.")
    # Only a text with more than MAX_DETAIL_DEPTH openers (so more characters) can be that deep; skip the walk for
    # everything else.
    if (
        len(detail) > MAX_DETAIL_DEPTH
        and detail.count("{") + detail.count("[") > MAX_DETAIL_DEPTH
        and _depth(parsed) > MAX_DETAIL_DEPTH
    ):
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
    caller that builds a whole request's envelopes make them once per request (`Envelopes` does more of that)."""
    if event_id is None:
        event_id = uuids.one()
    return event_id, Envelopes(account=account, region=region, now_s=now_s, now_text=now_text).build(entry, event_id)


_HEAD = b'{"version":"0","id":"'
_DETAIL = b',"detail":'
_NO_RESOURCES = b"[]"


class Envelopes:
    """The envelopes of one request's entries, with what they share formatted once.

    An envelope is `orjson.dumps` of the head fields in AWS's order with the Detail text spliced in; orjson encodes
    a string or a list the same wherever it stands, so the envelope is assembled from pieces instead: the part from
    `detail-type` to `resources` (`","detail-type":...,"source":...,"account":...,"time":...,"region":...,
    "resources":`) is made once per distinct (DetailType, Source, time) of the request and reused, and each entry
    adds only its id, its resources and its Detail (tests/router/test_envelope.py checks the bytes against the
    dict encoding)."""

    __slots__ = ("_account", "_middles", "_now_s", "_now_text", "_region")

    def __init__(self, *, account: str, region: str, now_s: float, now_text: str | None = None) -> None:
        self._account = orjson.dumps(account)
        self._region = orjson.dumps(region)
        self._now_s = now_s
        self._now_text = now_text if now_text is not None else format_time(None, now_s)
        self._middles: dict[tuple[str, str, str], bytes] = {}

    def build(self, entry: dict[str, Any], event_id: str) -> bytes:
        """Validate one entry and return its envelope JSON with id `event_id` (a UUID string: spliced in as it is);
        EntryError for a per-entry failure."""
        get = entry.get
        return self._build(
            get("Source"), get("DetailType"), get("Detail"), get("Time"), get("Resources"), event_id=event_id
        )

    def build_from(self, fields: Fields, event_id: str) -> bytes:
        """`build` of an entry whose members `entry_fields` read (and type-checked) already."""
        return self._build(fields[0], fields[1], fields[2], fields[4], fields[5], event_id=event_id)

    def _build(
        self, source: Any, detail_type: Any, detail_text: Any, time_value: Any, resources: Any, *, event_id: str
    ) -> bytes:
        if not (source and detail_type and detail_text):  # the first missing one, in AWS's order
            for name, value in (("Source", source), ("DetailType", detail_type), ("Detail", detail_text)):
                if not value:
                    raise EntryError(
                        "InvalidArgument", f"Parameter {name} is not valid. Reason: {name} is a required argument."
                    )
        if len(detail_type) > MAX_DETAIL_TYPE_CHARS:
            raise EntryError(
                "InvalidArgument",
                f"Parameter DetailType is not valid. Reason: DetailType is longer than {MAX_DETAIL_TYPE_CHARS} "
                "characters.",
            )
        parse_detail(detail_text)
        when = self._now_text if time_value is None else format_time(time_value, self._now_s)
        key = (detail_type, source, when)
        middle = self._middles.get(key)
        if middle is None:
            middle = self._middles[key] = b"".join(
                (
                    b'","detail-type":',
                    orjson.dumps(detail_type),
                    b',"source":',
                    orjson.dumps(source),
                    b',"account":',
                    self._account,
                    b',"time":',
                    orjson.dumps(when),
                    b',"region":',
                    self._region,
                    b',"resources":',
                )
            )
        # The validated Detail text is spliced in as sent: no re-encoding (orjson's encoder also stops at 254
        # levels, while AWS accepts 1000).
        return b"".join(
            (
                _HEAD,
                event_id.encode(),
                middle,
                orjson.dumps(resources) if resources else _NO_RESOURCES,
                _DETAIL,
                detail_text.encode("utf-8", "surrogatepass"),
                b"}",
            )
        )
