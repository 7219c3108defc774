"""The archive operations of the `events` API: CreateArchive, DescribeArchive, ListArchives, UpdateArchive,
DeleteArchive (AWS shapes and errors; storage and managed rules in `archive.store`).

States: CreateArchive stores the archive as CREATING, writes its managed rule, then makes it ENABLED (the answer
shows ENABLED; CREATE_FAILED with a StateReason if the rule could not be written for a reason other than the bus
being gone, in which case the archive is removed again and the call answers ResourceNotFoundException).
UpdateArchive goes through UPDATING to ENABLED (or UPDATE_FAILED). An ENABLED archive whose managed rule was deleted
(DeleteRule with Force) is shown as DISABLED, with the reason: it no longer receives events. Arguments that
UpdateArchive leaves out keep their values.

ListArchives' filters are exclusive, as AWS documents: more than one is a ValidationException.
"""

from __future__ import annotations

from typing import Any

from archive.store import ArchiveStats, Record, archive_store, managed_rule_name, managed_rule_pattern
from router.api._control import existing_bus, paginate, pick, with_token
from router.api.rules import validate_pattern
from router.errors import ResourceNotFoundException, ServiceError, ValidationException
from router.protocol import Handler
from router.state import AppState

__all__ = ["OPERATIONS"]

_LIST_FIELDS = (
    "ArchiveName",
    "EventSourceArn",
    "State",
    "StateReason",
    "RetentionDays",
    "SizeBytes",
    "EventCount",
    "CreationTime",
)
_DESCRIBE_FIELDS = (
    "ArchiveArn",
    "ArchiveName",
    "EventSourceArn",
    "Description",
    "EventPattern",
    "State",
    "StateReason",
    "KmsKeyIdentifier",
    "RetentionDays",
    "SizeBytes",
    "EventCount",
    "CreationTime",
)


def _check_pattern(pattern: str | None) -> None:
    """The archive's pattern must be valid, and so must the managed rule's that adds `replay-name` to it."""
    if pattern:
        validate_pattern(pattern)
        validate_pattern(managed_rule_pattern(pattern))


async def _bus_of(state: AppState, source_arn: str) -> str:
    bus, _, _ = await existing_bus(state, source_arn)
    return bus


def _shown(record: Record, stats: ArchiveStats, rule_present: bool) -> dict[str, Any]:
    shown = dict(record)
    shown["EventCount"] = stats.event_count
    shown["SizeBytes"] = stats.size_bytes
    if record["State"] == "ENABLED" and not rule_present:
        shown["State"] = "DISABLED"
        rule = managed_rule_name(record["ArchiveName"])
        shown["StateReason"] = f"The managed rule {rule} was deleted: the archive receives no events."
    if not shown.get("EventPattern"):
        shown.pop("EventPattern", None)
    return shown


async def _describe_many(state: AppState, records: list[Record]) -> list[dict[str, Any]]:
    store = archive_store(state)
    stats = await store.stats(records)
    present = await store.has_managed_rule(records)
    return [_shown(r, s, p) for r, s, p in zip(records, stats, present, strict=True)]


async def create_archive(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name: str = body["ArchiveName"]
    pattern = body.get("EventPattern")
    _check_pattern(pattern)
    bus = await _bus_of(state, body["EventSourceArn"])
    store = archive_store(state)
    record = store.new_record(name, bus, body)
    if not pattern:
        record["EventPattern"] = None
    await store.create(record)
    try:
        await store.put_managed_rule(record, state.account_id)
    except ResourceNotFoundException:
        await store.update(name, lambda _current: None)
        raise
    except ServiceError as err:
        if err.code == "ResourceAlreadyExistsException":
            await store.update(name, lambda _current: None)
            raise
        await store.set_state(name, "CREATE_FAILED", f"The archive's rule could not be created: {err.message}")
        raise
    created = await store.set_state(name, "ENABLED")
    assert created is not None
    return {"ArchiveArn": created["ArchiveArn"], "State": "ENABLED", "CreationTime": created["CreationTime"]}


async def describe_archive(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    record = await archive_store(state).require(body["ArchiveName"])
    (shown,) = await _describe_many(state, [record])
    return pick(shown, _DESCRIBE_FIELDS)


async def list_archives(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    prefix, source, wanted = body.get("NamePrefix"), body.get("EventSourceArn"), body.get("State")
    if sum(value is not None for value in (prefix, source, wanted)) > 1:
        raise ValidationException(
            "At most one filter is allowed for ListArchives. Use either : State, EventSourceArn, or NamePrefix."
        )
    records = await archive_store(state).all()
    if prefix is not None:
        records = [r for r in records if r["ArchiveName"].startswith(prefix)]
    if source is not None:
        bus = await _bus_of(state, source)
        records = [r for r in records if r["EventBusName"] == bus]
    shown = await _describe_many(state, records)
    if wanted is not None:
        shown = [r for r in shown if r["State"] == wanted]
    page, token = paginate(shown, lambda r: str(r["ArchiveName"]), body)
    return with_token({"Archives": [pick(r, _LIST_FIELDS) for r in page]}, token)


async def update_archive(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name: str = body["ArchiveName"]
    pattern = body.get("EventPattern")
    _check_pattern(pattern)
    store = archive_store(state)
    changes: dict[str, Any] = {
        field: body[field] for field in ("Description", "RetentionDays", "KmsKeyIdentifier") if field in body
    }
    if "EventPattern" in body:
        changes["EventPattern"] = pattern or None
    record = await store.set_state(name, "UPDATING", None, **changes)
    assert record is not None
    try:
        await store.put_managed_rule(record, state.account_id)
    except ServiceError as err:
        await store.set_state(name, "UPDATE_FAILED", f"The archive's rule could not be updated: {err.message}")
        raise
    updated = await store.set_state(name, "ENABLED")
    assert updated is not None
    return {"ArchiveArn": updated["ArchiveArn"], "State": "ENABLED", "CreationTime": updated["CreationTime"]}


async def delete_archive(state: AppState, body: dict[str, Any]) -> None:
    name: str = body["ArchiveName"]
    store = archive_store(state)
    record = await store.require(name)
    await store.delete_managed_rule(record)
    # the tombstone first (a crash from here on leaves storage that the sweep deletes), then the record, then the
    # storage: a replay that finds the archive's storage empty also finds its record gone, and ends FAILED, not
    # COMPLETED (archive.runner)
    await store.leave_tombstone(record)
    await store.update(name, lambda _current: None)
    await store.delete_storage(record)


OPERATIONS: dict[str, Handler] = {
    "CreateArchive": create_archive,
    "DescribeArchive": describe_archive,
    "ListArchives": list_archives,
    "UpdateArchive": update_archive,
    "DeleteArchive": delete_archive,
}
