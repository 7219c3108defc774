"""Partner event sources, both sides: the SaaS partner's operations and the customer's, plus PutPartnerEvents.

A partner account creates a source for one customer account (`CreatePartnerEventSource(Name, Account)`); the name
is `aws.partner/PARTNER/...` (the model's pattern: at least two segments after `aws.partner`) and is unique in the
region, as on AWS ("each partner event source can be used by one AWS account"). The customer sees it with
ListEventSources / DescribeEventSource, in state PENDING, and makes it ACTIVE by creating the matching partner bus
(`CreateEventBus(Name=N, EventSourceName=N)`, router.api.buses). DeactivateEventSource turns it PENDING again,
ActivateEventSource ACTIVE; DeletePartnerEventSource (the partner) turns it DELETED for the customer. A PENDING
source expires 14 days after it became PENDING (AWS: "If it remains in PENDING state for more than two weeks, it is
deleted"): `ExpirationTime` says when, and an expired source reads as gone.

PutPartnerEvents (the partner, 1-20 entries) appends each entry whose `Source` is one of the caller's ACTIVE
sources to the customer's partner bus, with the customer's account in the envelope; the others fail one by one.
Records live in router.store.event_sources.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from router import uuids
from router.api._control import now_s, paginate, pick, with_token
from router.api.put_events import SIZE_ERROR, append_envelopes
from router.envelope import EntryError, build_envelope, checked_size_bytes
from router.errors import (
    InvalidStateException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from router.namespace import Namespace
from router.protocol import Handler
from router.state import AppState
from router.store.event_sources import (
    ACTIVE,
    DELETED,
    PENDING,
    EventSources,
    event_sources,
    source_arn,
)

__all__ = ["OPERATIONS", "activate_for_bus", "deactivate_for_bus"]

_CUSTOMER_FIELDS = ("Arn", "CreatedBy", "CreationTime", "ExpirationTime", "Name", "State")


def _not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Event source {name} does not exist.")


# --- the partner's side ------------------------------------------------------------------------------------------


async def create_partner_event_source(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name: str = body["Name"]
    sources = event_sources(state)
    record = {
        "Name": name,
        "Arn": source_arn(state.region, name),
        "Account": body["Account"],
        "Partner": state.account_id,
        "CreatedBy": name.split("/")[1],
        "CreationTime": now_s(),
        "State": PENDING,
        "ExpirationTime": time.time() + EventSources.PENDING_LIFETIME_S,
    }
    if not await sources.create(state.region, record):
        raise ResourceAlreadyExistsException(f"Event source {name} already exists.")
    return {"EventSourceArn": record["Arn"]}


async def delete_partner_event_source(state: AppState, body: dict[str, Any]) -> None:
    name: str = body["Name"]
    sources = event_sources(state)

    def delete(record: dict[str, Any]) -> dict[str, Any] | None:
        if record["Partner"] != state.account_id or record["Account"] != body["Account"]:
            return record  # not this partner's source for that account: nothing to delete
        return {**record, "State": DELETED, "ExpirationTime": None}

    await sources.update(state.region, name, delete)  # deleting what is not there succeeds, as on AWS


async def describe_partner_event_source(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    record = await _partners(state, body["Name"])
    return pick(record, ("Arn", "Name"))


async def list_partner_event_sources(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    prefix: str = body["NamePrefix"]
    records = [r for r in await _all_of_partner(state) if r["Name"].startswith(prefix)]
    page, token = paginate(records, lambda record: str(record["Name"]), body)
    return with_token({"PartnerEventSources": [pick(r, ("Arn", "Name")) for r in page]}, token)


async def list_partner_event_source_accounts(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    record = await _partners(state, body["EventSourceName"])
    accounts = [{"Account": record["Account"], **pick(record, ("CreationTime", "ExpirationTime", "State"))}]
    page, token = paginate(accounts, lambda account: str(account["Account"]), body)
    return with_token({"PartnerEventSourceAccounts": page}, token)


async def _partners(state: AppState, name: str) -> dict[str, Any]:
    record = await event_sources(state).get(state.region, name)
    if record is None or record["Partner"] != state.account_id or record["State"] == DELETED:
        raise _not_found(name)
    return record


async def _all_of_partner(state: AppState) -> list[dict[str, Any]]:
    records = await event_sources(state).all(state.region)
    return [r for r in records if r["Partner"] == state.account_id and r["State"] != DELETED]


# --- the customer's side -----------------------------------------------------------------------------------------


async def list_event_sources(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    prefix = body.get("NamePrefix") or ""
    records = [
        r
        for r in await event_sources(state).all(state.region)
        if r["Account"] == state.account_id and r["Name"].startswith(prefix)
    ]
    page, token = paginate(records, lambda record: str(record["Name"]), body)
    return with_token({"EventSources": [pick(r, _CUSTOMER_FIELDS) for r in page]}, token)


async def describe_event_source(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    return pick(await _customers(state, body["Name"]), _CUSTOMER_FIELDS)


async def activate_event_source(state: AppState, body: dict[str, Any]) -> None:
    await _set_state(state, body["Name"], ACTIVE)


async def deactivate_event_source(state: AppState, body: dict[str, Any]) -> None:
    await _set_state(state, body["Name"], PENDING)


async def _customers(state: AppState, name: str) -> dict[str, Any]:
    record = await event_sources(state).get(state.region, name)
    if record is None or record["Account"] != state.account_id:
        raise _not_found(name)
    return record


async def _set_state(state: AppState, name: str, wanted: str) -> None:
    await _customers(state, name)

    def change(record: dict[str, Any]) -> dict[str, Any]:
        if record["Account"] != state.account_id:
            raise _not_found(name)
        if record["State"] == DELETED:
            raise InvalidStateException(f"Event source {name} is in state {DELETED}.")
        return with_state(record, wanted)

    if await event_sources(state).update(state.region, name, change) is None:
        raise _not_found(name)


def with_state(record: dict[str, Any], wanted: str) -> dict[str, Any]:
    """The record in state `wanted`; a source that becomes PENDING expires 14 days later, an ACTIVE one never."""
    if record["State"] == wanted:
        return record
    expires = time.time() + EventSources.PENDING_LIFETIME_S if wanted == PENDING else None
    return {**record, "State": wanted, "ExpirationTime": expires}


async def activate_for_bus(state: AppState, name: str) -> None:
    """CreateEventBus made the partner bus of source `name` (the caller's, not DELETED): the source is ACTIVE."""
    await event_sources(state).update(state.region, name, lambda record: with_state(record, ACTIVE))


async def deactivate_for_bus(state: AppState, name: str) -> None:
    """DeleteEventBus removed a partner bus: its source (if still there and not DELETED) is PENDING again."""

    def change(record: dict[str, Any]) -> dict[str, Any]:
        if record["Account"] != state.account_id or record["State"] == DELETED:
            return record
        return with_state(record, PENDING)

    await event_sources(state).update(state.region, name, change)


# --- PutPartnerEvents --------------------------------------------------------------------------------------------


async def put_partner_events(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    entries: list[dict[str, Any]] = body["Entries"]
    if checked_size_bytes(entries) > state.settings.put_events_limit_bytes:
        raise ValidationException(SIZE_ERROR)
    sources = event_sources(state)
    results: list[dict[str, Any]] = [{}] * len(entries)
    by_target: dict[tuple[str, str], list[tuple[int, str, bytes]]] = {}
    now = time.time()
    ids = uuids.take(len(entries))
    for index, entry in enumerate(entries):
        try:
            source = entry.get("Source")
            record = await sources.get(state.region, source) if isinstance(source, str) else None
            if record is None or record["Partner"] != state.account_id or record["State"] == DELETED:
                raise EntryError("NotAuthorizedForSourceException", "Not authorized for the source.")
            if record["State"] != ACTIVE:
                raise EntryError("InvalidStateException", f"Event source {source} is not active.")
            event_id, envelope = build_envelope(
                entry, account=record["Account"], region=state.region, now_s=now, event_id=ids[index]
            )
        except EntryError as err:
            results[index] = {"ErrorCode": err.code, "ErrorMessage": err.message}
            continue
        by_target.setdefault((record["Account"], record["Name"]), []).append((index, event_id, envelope))
    for (account, bus), items in by_target.items():
        await append_envelopes(state, Namespace(account, state.region), bus, items, results)
    failed = sum(1 for result in results if "ErrorCode" in result)
    return {"FailedEntryCount": failed, "Entries": results}


OPERATIONS: dict[str, Handler] = {
    "CreatePartnerEventSource": create_partner_event_source,
    "DeletePartnerEventSource": delete_partner_event_source,
    "DescribePartnerEventSource": describe_partner_event_source,
    "ListPartnerEventSources": list_partner_event_sources,
    "ListPartnerEventSourceAccounts": list_partner_event_source_accounts,
    "ListEventSources": list_event_sources,
    "DescribeEventSource": describe_event_source,
    "ActivateEventSource": activate_event_source,
    "DeactivateEventSource": deactivate_event_source,
    "PutPartnerEvents": put_partner_events,
}
