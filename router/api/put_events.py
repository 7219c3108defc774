"""PutEvents: validate, build envelopes, append them durably to each bus's ingest stream, answer positionally.

An entry is a success only once its envelope is in the bus's ingest stream (`XADD` acknowledged by Redis); matching
and delivery happen later, in the ingest worker (`router.ingest`), so a slow rule set or target never slows
PutEvents down. The entries of one request are grouped per bus and each bus's group is appended in one Lua script
call (one Redis Cluster slot per bus, all of the bus's entries or none); the buses of a request are appended
concurrently, and the calls of concurrent requests share one pipelined round trip (router.coalesce). If Redis
cannot be reached, the affected entries fail with `InternalFailure` (retryable).

Whole-request failures (AWS): not 1-10 entries, and a total size over `settings.put_events_limit_bytes` by AWS's
formula -> `ValidationException`; a member of the wrong JSON type -> `SerializationException`. Per-entry failures:
`InvalidArgument` (missing Source/DetailType/Detail, DetailType over 128 characters, a Time that is no timestamp),
`MalformedDetail` (Detail not a JSON object, or nested deeper than 1000 levels), an extension's entry check
(router.extensions, e.g. schema validation: `InvalidArgument` naming the failing JSON path), and, a Switchboard
choice where AWS's behaviour is unsettled, `ResourceNotFoundException` "Event bus NAME does not exist." for an
unknown bus.
Entries go to the caller's (account, region) namespace (router.namespace); an `EventBusName` ARN of another
account's bus in the caller's region puts to that bus when its resource policy allows the caller's account
(router.policies), else the entry fails with AWS's `AccessDeniedException`.
A request of more than `router.ingest.OFF_LOOP_BYTES` builds its envelopes (parsing and checking each Detail) in a
worker thread, so a 1 MiB request never holds the event loop.
Bus existence is checked in the same Lua script that appends, against the bus's `exists` marker (same hash slot
as its stream), so an event is never appended to a bus that does not exist, and a new bus accepts events at once.
The same script bounds the bus's ingest backlog (router.backlog): entries beyond it fail with the retryable
`ThrottlingException` "Rate exceeded".

With `EndpointId` (a global endpoint), the request is put in the region the endpoint routes to, the primary's or,
failed over, the secondary's, and replicated to the other one (router.endpoint_routing).

Loops through HTTP: a router's own deliveries carry `X-Switchboard-Hops: N` (router.delivery.http). A request with
it has its entries appended with `hops` N+1, the field a bus target writes; one with N at the event-bus hop bound
(router.delivery.bus_target's MAX_BUS_HOPS) is refused whole with `ValidationException`, so the delivering router's
target fails with HTTP 400 (not retried, to its DLQ) and an API destination pointing at its own router ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from router import uuids
from router.arns import Arns
from router.backlog import APPEND_SCRIPT, THROTTLED_ENTRY, append_args, append_keys
from router.coalesce import ScriptBatcher
from router.delivery.bus_target import MAX_BUS_HOPS
from router.delivery.http import HOPS_HEADER
from router.envelope import EntryError, Envelopes, checked_size_bytes, entry_fields
from router.errors import SerializationException, ServiceError, ValidationException
from router.faults import fault_in_chain, log_fault
from router.ingest import OFF_LOOP_BYTES
from router.keys import Keys
from router.metrics import Metrics
from router.namespace import Namespace, parse_bus_arn
from router.policies import PUT_EVENTS_ACTION, access_denied_entry, allows
from router.protocol import Handler, request_headers
from router.state import AppState
from router.store import stores

MAX_ENTRIES = 10
log = logging.getLogger("switchboard.put_events")
SIZE_ERROR = "Total size of the entries in the request is over the limit."
_SCRIPT_KEY = "put_events.append_script"
_INTERNAL_FAILURE = {
    "ErrorCode": "InternalFailure",
    "ErrorMessage": "The event could not be stored. Retry the entry.",
}
INTERNAL_FAILURE = _INTERNAL_FAILURE

_Item = tuple[int, str, bytes]
"""(position in the request, event id, envelope JSON)."""

Replicate = Callable[[dict[str, list[_Item]], list[dict[str, Any]], int | None], Awaitable[None]]
"""A global endpoint's replication step: the appended items by bus, their results and the hop count in."""


def _count_error(entries: object) -> ValidationException | None:
    if entries is None:
        return ValidationException(
            "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null"
        )
    if not isinstance(entries, list):
        return None  # a type error: checked_size_bytes' caller reports it
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


def _bus_id(keys: Keys, namespace: Namespace, arns: Arns, value: str | None) -> str:
    """The key-layout name of the bus an entry's EventBusName names (router.namespace): a name or a bus ARN of the
    caller's namespace, or the ARN of another account's bus in the caller's region (checked against that bus's
    policy by `_authorized`); another region's bus is not reachable by PutEvents (ResourceNotFoundException)."""
    if value and value.startswith("arn:"):
        parsed = parse_bus_arn(value)
        if parsed is not None and parsed.region == namespace.region:
            return keys.scoped(parsed.name, parsed.namespace)
    try:
        return keys.scoped(arns.bus_name(value), namespace)
    except ServiceError as err:  # an ARN of another region, or no bus ARN
        raise EntryError(err.code, err.message) from err


async def put_events(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    if body.get("EndpointId") is not None:  # a global endpoint picks the region (router.endpoint_routing)
        from router.endpoint_routing import put_through_endpoint

        return await put_through_endpoint(state, body, _put_events)
    return await _put_events(state, body)


async def _put_events(state: AppState, body: dict[str, Any], replicate: Replicate | None = None) -> Mapping[str, Any]:
    entries = body.get("Entries")
    count_error = _count_error(entries)
    if count_error is not None:
        raise count_error
    if not isinstance(entries, list):
        raise SerializationException("Entries must be a list of PutEventsRequestEntry objects.")
    results: list[dict[str, Any]] = [_INTERNAL_FAILURE] * len(entries)
    # One pass: types, size and envelopes together (the usual small request); a request found bigger than
    # OFF_LOOP_BYTES on the way is checked and sized first, then built in a worker thread, as before.
    fused = _sized_envelopes(state, entries, results)
    if fused is not None:
        size_bytes, by_bus = fused
        if size_bytes > state.settings.put_events_limit_bytes:
            raise ValidationException(SIZE_ERROR)
        hops = _incoming_hops()
    else:
        size_bytes = checked_size_bytes(entries)
        if size_bytes > state.settings.put_events_limit_bytes:
            raise ValidationException(SIZE_ERROR)
        hops = _incoming_hops()
        results = [_INTERNAL_FAILURE] * len(entries)  # (over OFF_LOOP_BYTES: parsing and checking big Details
        by_bus = await asyncio.to_thread(_envelopes, state, entries, results)  # takes long, not on the event loop)
    if state.namespace != state.home or any("@" in bus for bus in by_bus):  # maybe another namespace's bus
        by_bus = await _authorized(state, by_bus, results)
    entry_checks = state.extras.get("entry_checks")  # extensions' per-bus checks (router.extensions), if any
    if entry_checks is not None:
        by_bus = await _checked(state, entry_checks, entries, by_bus, results)

    if len(by_bus) == 1:
        ((bus, items),) = by_bus.items()
        await _append(state, bus, items, results, hops)
    elif by_bus:
        await asyncio.gather(*(_append(state, bus, items, results, hops) for bus, items in by_bus.items()))
    if replicate is not None:
        await replicate(by_bus, results, hops)

    failed = sum(1 for r in results if "ErrorCode" in r)
    metrics: Metrics | None = state.extras.get("metrics")
    if metrics is not None:
        throttled = sum(1 for r in results if r is THROTTLED_ENTRY)
        metrics.observe_put_events(size_bytes, len(entries), failed, throttled)
    return {"FailedEntryCount": failed, "Entries": results}


def _envelopes(state: AppState, entries: list[Any], results: list[dict[str, Any]]) -> dict[str, list[_Item]]:
    """The entries' envelopes grouped by bus, however big the request; an entry that fails gets its error in
    `results`."""
    built = _sized_envelopes(state, entries, results, limit_bytes=None)
    assert built is not None  # no limit: never given up
    return built[1]


def _sized_envelopes(
    state: AppState, entries: list[Any], results: list[dict[str, Any]], limit_bytes: int | None = OFF_LOOP_BYTES
) -> tuple[int, dict[str, list[_Item]]] | None:
    """`checked_size_bytes(entries)` and `_envelopes(...)` in one pass over the entries, each entry's members read
    once: the same SerializationException for the same first offending entry (raised before any other whole-request
    error, as the whole pass ends before the size is compared), the same per-entry errors in `results` (discarded
    by any whole-request error). None once the entries seen are over `limit_bytes`: the caller starts over."""
    by_bus: dict[str, list[_Item]] = {}
    namespace, keys = state.namespace, state.keys
    arns = namespace.arns
    envelopes = Envelopes(account=namespace.account_id, region=namespace.region, now_s=time.time())
    event_ids = uuids.take(len(entries))
    buses: dict[str | None, str | EntryError] = {}
    size = 0
    for index, entry in enumerate(entries):
        fields = entry_fields(entry, index)
        size += fields[6]
        if limit_bytes is not None and size > limit_bytes:
            return None
        name = fields[3]
        bus = buses.get(name)
        if bus is None:
            try:
                bus = _bus_id(keys, namespace, arns, name)
            except EntryError as err:
                bus = err
            buses[name] = bus
        try:
            if isinstance(bus, EntryError):
                raise bus
            event_id = event_ids[index]
            envelope = envelopes.build_from(fields, event_id)
        except EntryError as err:
            results[index] = {"ErrorCode": err.code, "ErrorMessage": err.message}
            continue
        items = by_bus.get(bus)
        if items is None:
            items = by_bus[bus] = []
        items.append((index, event_id, envelope))
    return size, by_bus


async def _checked(
    state: AppState, checks: Any, entries: list[Any], by_bus: dict[str, list[_Item]], results: list[dict[str, Any]]
) -> dict[str, list[_Item]]:
    """The items that pass the extensions' entry checks; a failing entry gets its error in `results`."""
    kept: dict[str, list[_Item]] = {}
    for bus, items in by_bus.items():
        try:
            bus_checks = await checks.checks(state, bus)
            if not bus_checks:  # the bus validates nothing: no work per entry
                kept[bus] = items
                continue
            for item in items:
                failure = next(filter(None, (check(entries[item[0]]) for check in bus_checks)), None)
                if failure is not None:
                    err = EntryError(*failure)
                    results[item[0]] = {"ErrorCode": err.code, "ErrorMessage": err.message}
                else:
                    kept.setdefault(bus, []).append(item)
        except Exception as err:  # the checks could not be read: a storage fault fails these entries, retryable
            if fault_in_chain(err) is None:
                raise
            log_fault(log, f"PutEvents entry checks of bus {bus}", err)
            kept.pop(bus, None)  # their results stay InternalFailure, as when the append itself fails
    return kept


def _incoming_hops() -> int | None:
    """The hop count the request's `X-Switchboard-Hops` header carries (None without one, or an unreadable one): a
    router's own delivery (an API destination or function pointing back at a router) says how many event-bus hops
    its event took. At the bound, the whole request is refused, as a bus target at the bound is not delivered."""
    raw = request_headers().get(HOPS_HEADER.lower())
    digits = raw.strip() if raw is not None else ""
    if not (digits.isascii() and digits.isdigit()):
        return None
    hops = int(digits) if len(digits) <= 18 else 10**18  # never parse a number longer than that
    if hops >= MAX_BUS_HOPS:
        raise ValidationException(
            f"The events already passed through {hops} event buses ({HOPS_HEADER}: {hops}); {MAX_BUS_HOPS} is the "
            "most an event may pass through, so they were not put (loop protection)."
        )
    return hops


async def _authorized(
    state: AppState, by_bus: dict[str, list[_Item]], results: list[dict[str, Any]]
) -> dict[str, list[_Item]]:
    """The items whose bus the caller may put events to: its own namespace's, or another account's whose resource
    policy (router.policies) allows the caller's account `events:PutEvents` on it. Other entries fail as AWS's do:
    `AccessDeniedException` (the bus exists and its policy does not allow it) or `ResourceNotFoundException`."""
    caller = state.namespace
    kept: dict[str, list[_Item]] = {}
    for bus, items in by_bus.items():
        owner, name = state.keys.unscoped(bus)
        if owner == caller:
            kept[bus] = items
            continue
        buses, _ = stores(state, owner)
        try:
            record = await buses.get(name)
        except ServiceError as err:  # the policy could not be read: these entries stay InternalFailure (retryable)
            if fault_in_chain(err) is None:
                raise
            log_fault(log, f"PutEvents policy of bus {name}", err)
            continue
        if record is None:
            failure = {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": f"Event bus {name} does not exist."}
        elif allows(record.get("Policy"), caller.account_id, PUT_EVENTS_ACTION, str(record["Arn"])):
            kept[bus] = items
            continue
        else:
            failure = access_denied_entry(caller.account_id, str(record["Arn"]))
        for index, _, _ in items:
            results[index] = failure
    return kept


async def append_envelopes(
    state: AppState, namespace: Namespace, bus: str, items: list[_Item], results: list[dict[str, Any]]
) -> None:
    """Append built envelopes to bus `bus` of `namespace`, filling in their results as PutEvents does (no policy
    check: PutPartnerEvents appends to a customer's partner bus through here, global endpoints to a region's bus)."""
    await _append(state, state.keys.scoped(bus, namespace), items, results)


async def _append(
    state: AppState, bus: str, items: list[_Item], results: list[dict[str, Any]], hops: int | None = None
) -> None:
    """Append one bus's envelopes in one atomic round trip, if the bus exists and as far as its backlog bound lets
    (router.backlog); fill in their results: the entries that did not fit get `ThrottlingException`.

    Entries of a request that carried a hop count are appended with `hops` one more, as a bus target appends them;
    all others without the field."""
    appends: ScriptBatcher | None = state.extras.get(_SCRIPT_KEY)
    if appends is None:  # the calls of concurrent requests share round trips (router.coalesce)
        appends = state.extras[_SCRIPT_KEY] = ScriptBatcher(state.redis, state.redis.register_script(APPEND_SCRIPT))
    next_hops = None if hops is None else hops + 1
    args = append_args(state.settings.ingest_backlog_limit_events, [(envelope, next_hops) for _, _, envelope in items])
    try:
        ids = await appends.run(append_keys(state.keys, bus), args)
    except Exception:  # connection lost or Redis refused: none of these can be called accepted
        log.exception("appending %d events to bus %s failed", len(items), bus)
        return  # results stay InternalFailure (retryable)
    if ids is None:
        name = state.keys.unscoped(bus)[1]
        failure = {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": f"Event bus {name} does not exist."}
        for index, _, _ in items:
            results[index] = failure
        return
    for position, (index, event_id, _) in enumerate(items):
        results[index] = {"EventId": event_id} if position < len(ids) else THROTTLED_ENTRY


append_to_bus = _append
"""The one-bus append (a key-layout bus name), for the global endpoints' replication (router.endpoint_routing)."""

OPERATIONS: dict[str, Handler] = {"PutEvents": put_events}
