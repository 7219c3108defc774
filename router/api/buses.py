"""Event bus operations: CreateEventBus, DescribeEventBus, ListEventBuses, UpdateEventBus, DeleteEventBus.

The `default` bus always exists: a start-up hook creates it idempotently (in the home namespace; in any other
namespace on a process's first request there, router.namespace), and it cannot be deleted. Deleting a
bus follows AWS: it fails while the bus still has rules ("EventBus can't be deleted since it has rules."), and
deleting a bus that does not exist succeeds. A partner bus (`EventSourceName`, router.api.partner_sources) needs a
partner event source of the caller's account, and its name: creating it makes the source ACTIVE, deleting it turns
the source PENDING again. DescribeEventBus shows the bus's resource policy (router.api.permissions) as `Policy`.

UpdateEventBus changes the members it is given (`Description`, `KmsKeyIdentifier`, `DeadLetterConfig`,
`LogConfig`) and keeps the others; an empty value (`""`, `{}`) removes one. A bus's `DeadLetterConfig` must name an
SQS standard queue, as AWS requires of dead-letter queues. The event-buses quota (`quotas.event_buses`, 100) and the
tags quota are checked at CreateEventBus.
"""

from __future__ import annotations

from typing import Any

from router.api import partner_sources, permissions
from router.api._control import arns, check_tags, now_s, paginate, pick, with_token
from router.arns import DEFAULT_BUS
from router.delivery.queues import queue_name
from router.errors import ResourceAlreadyExistsException, ResourceNotFoundException, ValidationException
from router.protocol import Handler
from router.state import AppState
from router.store import stores
from router.store.event_sources import DELETED, event_sources
from router.store.protocol import Record

PARTNER_PREFIX = "aws.partner/"

_CONFIG_FIELDS = ("Description", "KmsKeyIdentifier", "DeadLetterConfig", "LogConfig")
_DESCRIBE_FIELDS = ("Name", "Arn", *_CONFIG_FIELDS, "CreationTime", "LastModifiedTime")
_LIST_FIELDS = ("Name", "Arn", "Description", "CreationTime", "LastModifiedTime")


def bus_record(state: AppState, name: str, body: dict[str, Any]) -> dict[str, Any]:
    created = now_s()
    record: dict[str, Any] = {"Name": name, "Arn": arns(state).bus(name)}
    record.update({field: _config_value(field, body.get(field)) for field in _CONFIG_FIELDS})
    tags = check_tags(body.get("Tags") or [], state.settings.quotas.tags_per_resource)
    record.update({"CreationTime": created, "LastModifiedTime": created, "Tags": tags})
    return record


def _config_value(field: str, value: Any) -> Any:
    """A configuration member as stored: None when absent or empty; a DeadLetterConfig checked."""
    if value in (None, "", {}):
        return None
    if field == "DeadLetterConfig":
        _check_dead_letter_config(value)
    return value


def _check_dead_letter_config(config: dict[str, Any]) -> None:
    arn = config.get("Arn")
    if not arn:
        return
    name = queue_name(str(arn))
    if name is None:
        raise ValidationException(
            f"Parameter DeadLetterConfig.Arn is not valid. Reason: {arn} is not a valid Amazon SQS queue ARN."
        )
    if name.endswith(".fifo"):
        raise ValidationException(
            "Parameter DeadLetterConfig.Arn is not valid. Reason: "
            "A FIFO queue cannot be used as a dead-letter queue; use a standard queue."
        )


async def on_startup(state: AppState) -> None:
    buses, _ = stores(state)
    await buses.ensure(bus_record(state, DEFAULT_BUS, {}))


async def on_namespace(state: AppState) -> None:
    """Every account and region has its `default` bus: made on a process's first request in a namespace."""
    await on_startup(state)


async def create_event_bus(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name: str = body["Name"]
    source = body.get("EventSourceName")
    if source is not None:
        await _check_partner_source(state, name, source)
    elif "/" in name:
        raise ValidationException("Parameter Name is not valid. Reason: Custom event bus names can't contain '/'.")
    record = bus_record(state, name, body)
    buses, _ = stores(state)
    if not await buses.create(record):
        raise ResourceAlreadyExistsException(f"Event bus {name} already exists.")
    if source is not None:
        await partner_sources.activate_for_bus(state, source)
    return {"EventBusArn": record["Arn"], **pick(record, _CONFIG_FIELDS)}


async def _check_partner_source(state: AppState, name: str, source: str) -> None:
    """A partner bus needs a partner event source of this account (not DELETED), and the source's exact name."""
    found = await event_sources(state).get(state.region, source)
    if found is None or found["Account"] != state.account_id or found["State"] == DELETED:
        raise ResourceNotFoundException(f"Event source {source} does not exist.")
    if name != source:
        raise ValidationException(
            "Parameter Name is not valid. Reason: A partner event bus must have the name of its event source."
        )


async def describe_event_bus(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name = arns(state).bus_name(body.get("Name"))
    buses, _ = stores(state)
    record = await buses.get(name)
    if record is None:
        raise ResourceNotFoundException(f"Event bus {name} does not exist.")
    described = pick(record, _DESCRIBE_FIELDS)
    policy = permissions.policy_text(record)
    if policy is not None:
        described["Policy"] = policy
    return described


async def list_event_buses(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    buses, _ = stores(state)
    prefix = body.get("NamePrefix") or ""
    records = [record for record in await buses.all() if record["Name"].startswith(prefix)]
    page, token = paginate(records, lambda record: str(record["Name"]), body)
    return with_token({"EventBuses": [pick(record, _LIST_FIELDS) for record in page]}, token)


async def update_event_bus(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name = arns(state).bus_name(body.get("Name"))
    changes = {field: _config_value(field, body[field]) for field in _CONFIG_FIELDS if field in body}
    modified = now_s()

    def change(record: Record) -> Record:
        return {**record, **changes, "LastModifiedTime": modified}

    buses, _ = stores(state)
    updated = await buses.update(name, change)
    if updated is None:
        raise ResourceNotFoundException(f"Event bus {name} does not exist.")
    return pick(updated, ("Arn", "Name", *_CONFIG_FIELDS))


async def delete_event_bus(state: AppState, body: dict[str, Any]) -> None:
    name: str = body["Name"]
    if name == DEFAULT_BUS:
        raise ValidationException("Cannot delete event bus default.")
    buses, _ = stores(state)
    existed = await buses.get(name) is not None
    await buses.delete(name)
    if existed and name.startswith(PARTNER_PREFIX):
        await partner_sources.deactivate_for_bus(state, name)


OPERATIONS: dict[str, Handler] = {
    "CreateEventBus": create_event_bus,
    "DescribeEventBus": describe_event_bus,
    "ListEventBuses": list_event_buses,
    "UpdateEventBus": update_event_bus,
    "DeleteEventBus": delete_event_bus,
}
