"""PutEvents: validate, build envelopes, append them durably to each bus's ingest stream, answer positionally.

An entry is a success only once its envelope is in the bus's ingest stream (`XADD` acknowledged by Redis); matching
and delivery happen later, in the ingest worker (`router.ingest`), so a slow rule set or target never slows
PutEvents down. The entries of one request are grouped per bus and each bus's group is appended in one pipelined
round trip (one Lua script: one Redis Cluster slot per bus, all of the bus's entries or none); the buses of a request
are appended concurrently. If Redis cannot be reached, the affected entries fail with `InternalFailure` (retryable).

Whole-request failures (AWS): not 1-10 entries, and a total size over `settings.put_events_limit_bytes` by AWS's
formula -> `ValidationException`; a member of the wrong JSON type -> `SerializationException`. Per-entry failures:
`InvalidArgument` (missing Source/DetailType/Detail, DetailType over 128 characters, a Time that is no timestamp),
`MalformedDetail` (Detail not a JSON object, or nested deeper than 1000 levels), and, a Switchboard choice where
AWS's behaviour is unsettled, `ResourceNotFoundException` "Event bus NAME does not exist." for an unknown bus.
Bus existence is checked in the same Lua script that appends, against the bus's `exists` marker (same hash slot
as its stream), so an event is never appended to a bus that does not exist, and a new bus accepts events at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from router.arns import Arns
from router.envelope import (
    EntryError,
    build_envelope,
    check_entry_types,
    entry_size_bytes,
    format_time,
    uuid4_strings,
)
from router.errors import SerializationException, ServiceError, ValidationException
from router.metrics import Metrics
from router.protocol import Handler
from router.state import AppState

MAX_ENTRIES = 10
log = logging.getLogger("switchboard.put_events")
SIZE_ERROR = "Total size of the entries in the request is over the limit."
_SCRIPT_KEY = "put_events.append_script"
_INTERNAL_FAILURE = {
    "ErrorCode": "InternalFailure",
    "ErrorMessage": "The event could not be stored. Retry the entry.",
}

_Item = tuple[int, str, bytes]
"""(position in the request, event id, envelope JSON)."""


# KEYS: the bus's `exists` marker, its ingest stream. ARGV: envelopes. Appends all of them, or none if the bus is gone.
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
local ids = {}
for i = 1, #ARGV do
  ids[i] = redis.call('XADD', KEYS[2], '*', 'event', ARGV[i])
end
return ids
"""


def _count_error(entries: object) -> ValidationException | None:
    if entries is None:
        return ValidationException(
            "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null"
        )
    if not isinstance(entries, list):
        return None  # a type error: check_entry_types' caller reports it
    if len(entries) < 1:
        return ValidationException(
            "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    if len(entries) > MAX_ENTRIES:
        return ValidationException(
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_ENTRIES}"
        )
    return None


def _bus_name(arns: Arns, value: str | None) -> str:
    try:
        return arns.bus_name(value)
    except ServiceError as err:  # an ARN of another account or region
        raise EntryError(err.code, err.message) from err


async def put_events(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    entries = body.get("Entries")
    count_error = _count_error(entries)
    if count_error is not None:
        raise count_error
    if not isinstance(entries, list):
        raise SerializationException("Entries must be a list of PutEventsRequestEntry objects.")
    check_entry_types(entries)
    size_bytes = sum(entry_size_bytes(entry) for entry in entries)
    if size_bytes > state.settings.put_events_limit_bytes:
        raise ValidationException(SIZE_ERROR)

    results: list[dict[str, Any]] = [_INTERNAL_FAILURE] * len(entries)
    by_bus: dict[str, list[_Item]] = {}
    now_s = time.time()
    account, region = state.account_id, state.region
    arns = Arns(region, account)
    now_text = format_time(None, now_s)
    event_ids = uuid4_strings(len(entries))  # one system call per request, 122 random bits per id as uuid4
    for index, entry in enumerate(entries):
        try:
            bus = _bus_name(arns, entry.get("EventBusName"))
            event_id, envelope = build_envelope(
                entry, account=account, region=region, now_s=now_s, event_id=event_ids[index], now_text=now_text
            )
        except EntryError as err:
            results[index] = {"ErrorCode": err.code, "ErrorMessage": err.message}
            continue
        by_bus.setdefault(bus, []).append((index, event_id, envelope))

    if len(by_bus) == 1:
        ((bus, items),) = by_bus.items()
        await _append(state, bus, items, results)
    elif by_bus:
        await asyncio.gather(*(_append(state, bus, items, results) for bus, items in by_bus.items()))

    failed = sum(1 for r in results if "ErrorCode" in r)
    metrics: Metrics | None = state.extras.get("metrics")
    if metrics is not None:
        metrics.observe_put_events(size_bytes, len(entries), failed)
    return {"FailedEntryCount": failed, "Entries": results}


async def _append(state: AppState, bus: str, items: list[_Item], results: list[dict[str, Any]]) -> None:
    """Append one bus's envelopes in one atomic round trip, if the bus exists; fill in their results."""
    script = state.extras.get(_SCRIPT_KEY)
    if script is None:
        script = state.extras[_SCRIPT_KEY] = state.redis.register_script(_APPEND)
    keys = [state.keys.bus_exists(bus), state.keys.ingest(bus)]
    try:
        ids = await script(keys=keys, args=[envelope for _, _, envelope in items])
    except Exception:  # connection lost or Redis refused: none of these can be called accepted
        log.exception("appending %d events to bus %s failed", len(items), bus)
        return  # results stay InternalFailure (retryable)
    if ids is None:
        failure = {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": f"Event bus {bus} does not exist."}
        for index, _, _ in items:
            results[index] = failure
        return
    for index, event_id, _ in items:
        results[index] = {"EventId": event_id}


OPERATIONS: dict[str, Handler] = {"PutEvents": put_events}
