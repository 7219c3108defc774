"""Event bus operations: CreateEventBus, DescribeEventBus, ListEventBuses, DeleteEventBus.

The `default` bus always exists: a start-up hook creates it idempotently, and it cannot be deleted. Deleting a
bus follows AWS: it fails while the bus still has rules ("EventBus can't be deleted since it has rules."), and
deleting a bus that does not exist succeeds. Partner buses need a partner event source, which Switchboard does
not serve, so `EventSourceName` is answered with the missing-source error rather than a bus that would never
receive anything. Bus policies (PutPermission) and UpdateEventBus are not served; the dispatcher answers them
with UnsupportedOperationException.
"""

from __future__ import annotations

from typing import Any

from router.api._control import arns, check_tags, now_s, paginate, pick, with_token
from router.arns import DEFAULT_BUS
from router.errors import ResourceAlreadyExistsException, ResourceNotFoundException, ValidationException
from router.protocol import Handler
from router.state import AppState
from router.store import stores

_CONFIG_FIELDS = ("Description", "KmsKeyIdentifier", "DeadLetterConfig", "LogConfig")
_DESCRIBE_FIELDS = ("Name", "Arn", *_CONFIG_FIELDS, "CreationTime", "LastModifiedTime")
_LIST_FIELDS = ("Name", "Arn", "Description", "CreationTime", "LastModifiedTime")


def bus_record(state: AppState, name: str, body: dict[str, Any]) -> dict[str, Any]:
    created = now_s()
    record: dict[str, Any] = {"Name": name, "Arn": arns(state).bus(name)}
    record.update({field: body.get(field) for field in _CONFIG_FIELDS})
    record.update({"CreationTime": created, "LastModifiedTime": created, "Tags": check_tags(body.get("Tags") or [])})
    return record


async def on_startup(state: AppState) -> None:
    buses, _ = stores(state)
    await buses.ensure(bus_record(state, DEFAULT_BUS, {}))


async def create_event_bus(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name: str = body["Name"]
    source = body.get("EventSourceName")
    if source is not None:
        raise ResourceNotFoundException(f"Event source {source} does not exist.")
    if "/" in name:
        raise ValidationException("Parameter Name is not valid. Reason: Custom event bus names can't contain '/'.")
    record = bus_record(state, name, body)
    buses, _ = stores(state)
    if not await buses.create(record):
        raise ResourceAlreadyExistsException(f"Event bus {name} already exists.")
    return {"EventBusArn": record["Arn"], **pick(record, _CONFIG_FIELDS)}


async def describe_event_bus(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name = arns(state).bus_name(body.get("Name"))
    buses, _ = stores(state)
    record = await buses.get(name)
    if record is None:
        raise ResourceNotFoundException(f"Event bus {name} does not exist.")
    return pick(record, _DESCRIBE_FIELDS)


async def list_event_buses(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    buses, _ = stores(state)
    prefix = body.get("NamePrefix") or ""
    records = [record for record in await buses.all() if record["Name"].startswith(prefix)]
    page, token = paginate(records, lambda record: str(record["Name"]), body)
    return with_token({"EventBuses": [pick(record, _LIST_FIELDS) for record in page]}, token)


async def delete_event_bus(state: AppState, body: dict[str, Any]) -> None:
    name: str = body["Name"]
    if name == DEFAULT_BUS:
        raise ValidationException("Cannot delete event bus default.")
    buses, _ = stores(state)
    await buses.delete(name)


OPERATIONS: dict[str, Handler] = {
    "CreateEventBus": create_event_bus,
    "DescribeEventBus": describe_event_bus,
    "ListEventBuses": list_event_buses,
    "DeleteEventBus": delete_event_bus,
}
