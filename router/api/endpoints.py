"""Global endpoints: CreateEndpoint, DescribeEndpoint, UpdateEndpoint, DeleteEndpoint and ListEndpoints.

An endpoint names two event buses of one account in two regions (`EventBuses`), fails over from the primary (the
endpoint's home region, the one it is created in) to the secondary (`RoutingConfig.FailoverConfig.Secondary.Route`)
when the primary's Route 53 health check (`Primary.HealthCheck`) is unhealthy, and, with `ReplicationConfig.State`
ENABLED (the default, which needs a `RoleArn` as on AWS), copies every event to the other bus too. PutEvents with
`EndpointId` routes through it (router.endpoint_routing); there is no Route 53 here, so a health check's status is
set with `switchboard health-check ID healthy|unhealthy` (router.health_cli).

States, where AWS is asynchronous: CreateEndpoint answers `CREATING` and UpdateEndpoint `UPDATING`, as AWS does,
and the change is complete when the answer is sent: the endpoint then reads `ACTIVE`, or `CREATE_FAILED` /
`UPDATE_FAILED` with a `StateReason` when one of its buses does not exist (AWS sets up replication on both buses
after answering). DeleteEndpoint removes it at once (AWS: `DELETING`, then gone), so `DELETING` and
`DELETE_FAILED` are never seen. Only an ACTIVE endpoint routes events. Records live in router.store.endpoints.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from router.api._control import now_s, paginate, pick, with_token
from router.endpoint_buses import bus_exists, endpoint_bus
from router.errors import (
    ConcurrentModificationException,
    InternalException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from router.namespace import BusArn, Namespace
from router.protocol import Handler, request_headers
from router.quotas import limit_exceeded
from router.state import AppState
from router.store.endpoints import endpoint_store, health_check_id

__all__ = ["OPERATIONS", "endpoint_buses", "endpoint_url"]

ACTIVE = "ACTIVE"
CREATING = "CREATING"
UPDATING = "UPDATING"
CREATE_FAILED = "CREATE_FAILED"
UPDATE_FAILED = "UPDATE_FAILED"

_CONFIG = ("RoutingConfig", "ReplicationConfig", "EventBuses", "RoleArn")
_CREATED = ("Name", "Arn", *_CONFIG, "State")
_UPDATED = ("Name", "Arn", *_CONFIG, "EndpointId", "EndpointUrl", "State")
_DESCRIBED = (
    "Name",
    "Description",
    "Arn",
    *_CONFIG,
    "EndpointId",
    "EndpointUrl",
    "State",
    "StateReason",
    "CreationTime",
    "LastModifiedTime",
)
_ID_ALPHABET = string.ascii_lowercase + string.digits


def _not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Endpoint {name} does not exist.")


def _invalid(parameter: str, reason: str) -> ValidationException:
    return ValidationException(f"Parameter {parameter} is not valid. Reason: {reason}")


def endpoint_url(state: AppState) -> str:
    """A URL that reaches this router: the one the request came to (its Host), else the configured address. Pass
    it as boto3's `endpoint_url` (or `--endpoint-url`) to send PutEvents with the endpoint's `EndpointId`."""
    host = request_headers().get("host")
    if not host:
        host = f"{state.settings.host}:{state.settings.port}"
    scheme = request_headers().get("x-forwarded-proto", "http")
    return f"{scheme}://{host}"


def endpoint_buses(record: dict[str, Any]) -> tuple[BusArn, BusArn]:
    """(primary, secondary) bus of a stored endpoint: the secondary is the bus in `Secondary.Route`'s region."""
    refs = [endpoint_bus(bus["EventBusArn"]) for bus in record["EventBuses"]]
    first, second = (ref for ref in refs if ref is not None)
    route = record["RoutingConfig"]["FailoverConfig"]["Secondary"]["Route"]
    return (second, first) if first.region == route else (first, second)


def _check(state: AppState, config: dict[str, Any]) -> None:
    """What CreateEndpoint and UpdateEndpoint refuse at once (the model checked shapes and patterns already)."""
    refs = [endpoint_bus(bus["EventBusArn"]) for bus in config["EventBuses"]]
    if any(ref is None for ref in refs):
        raise _invalid("EventBuses", "An event bus ARN is not in correct format.")
    first, second = (ref for ref in refs if ref is not None)
    if first.region == second.region:
        raise _invalid("EventBuses", "The event buses must be in two different Regions.")
    if first.name != second.name:
        raise _invalid("EventBuses", "The names of the event buses must be identical in each Region.")
    if first.account != state.account_id or second.account != state.account_id:
        raise _invalid("EventBuses", f"The event buses must be in the account of the endpoint ({state.account_id}).")
    if state.region not in (first.region, second.region):
        raise _invalid("EventBuses", f"One of the event buses must be in the Region of the endpoint ({state.region}).")
    route = config["RoutingConfig"]["FailoverConfig"]["Secondary"]["Route"]
    other = second.region if first.region == state.region else first.region
    if route != other:
        raise _invalid(
            "RoutingConfig.FailoverConfig.Secondary.Route",
            f"The secondary Region must be the Region of the other event bus ({other}).",
        )
    if config["ReplicationConfig"]["State"] == "ENABLED" and not config.get("RoleArn"):
        raise _invalid("RoleArn", "A RoleArn is required when event replication is ENABLED.")


async def _settled(state: AppState, record: dict[str, Any], failed: str) -> dict[str, Any]:
    """The record once its change is done: ACTIVE, or `failed` with the reason when a bus is not there."""
    settled = {key: value for key, value in record.items() if key != "StateReason"}
    for bus in endpoint_buses(record):
        if not await bus_exists(state, bus):
            return {**settled, "State": failed, "StateReason": f"Event bus {bus.arn} does not exist."}
    return {**settled, "State": ACTIVE}


def _shown(state: AppState, record: dict[str, Any], fields: tuple[str, ...], **override: Any) -> dict[str, Any]:
    shown = {**record, "EndpointUrl": endpoint_url(state), **override}
    return pick(shown, fields)


def _with_defaults(body: dict[str, Any]) -> dict[str, Any]:
    config = {name: body.get(name) for name in _CONFIG}
    config["ReplicationConfig"] = {"State": (body.get("ReplicationConfig") or {}).get("State") or "ENABLED"}
    return config


async def create_endpoint(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name: str = body["Name"]
    config = _with_defaults(body)
    _check(state, config)
    now = now_s()
    record: dict[str, Any] = {
        "Name": name,
        "Description": body.get("Description"),
        "Arn": f"arn:aws:events:{state.region}:{state.account_id}:endpoint/{name}",
        **config,
        "HealthCheckId": health_check_id(config["RoutingConfig"]["FailoverConfig"]["Primary"]["HealthCheck"]),
        "EndpointId": _new_id(),
        "CreationTime": now,
        "LastModifiedTime": now,
    }
    record = await _settled(state, record, CREATE_FAILED)
    outcome = await endpoint_store(state).create(state.namespace, record, state.settings.quotas.endpoints)
    if outcome == "EXISTS":
        raise ResourceAlreadyExistsException(f"Endpoint {name} already exists.")
    if outcome == "LIMIT":
        raise limit_exceeded()
    if outcome != "OK":  # IDTAKEN: 36^10 ids, so never in practice; retryable if it happens
        raise InternalException("The endpoint could not be created. Retry the request.")
    return _shown(state, record, _CREATED, State=CREATING)


async def describe_endpoint(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    record = await _existing(state, body)
    return _shown(state, record, _DESCRIBED)


async def list_endpoints(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    prefix = body.get("NamePrefix") or ""
    records = [r for r in await endpoint_store(state).all(_namespace(state, body)) if r["Name"].startswith(prefix)]
    page, token = paginate(records, lambda record: str(record["Name"]), {**body, "Limit": body.get("MaxResults")})
    return with_token({"Endpoints": [_shown(state, r, _DESCRIBED) for r in page]}, token)


async def update_endpoint(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name: str = body["Name"]
    found = await endpoint_store(state).get(state.namespace, name)
    if found is None:
        raise _not_found(name)
    current, raw = found
    changes = {key: body[key] for key in ("Description", *_CONFIG) if body.get(key) is not None}
    if "ReplicationConfig" in changes:
        changes["ReplicationConfig"] = _with_defaults(body)["ReplicationConfig"]
    record = {**current, **changes}
    _check(state, record)
    record["HealthCheckId"] = health_check_id(record["RoutingConfig"]["FailoverConfig"]["Primary"]["HealthCheck"])
    record["LastModifiedTime"] = now_s()
    record = await _settled(state, record, UPDATE_FAILED)
    await _replace(state, name, raw, record)
    return _shown(state, record, _UPDATED, State=UPDATING)


async def delete_endpoint(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name: str = body["Name"]
    found = await endpoint_store(state).get(state.namespace, name)
    if found is None:
        raise _not_found(name)
    await _replace(state, name, found[1], None)
    return {}


async def _replace(state: AppState, name: str, expected: bytes, record: dict[str, Any] | None) -> None:
    """Write (or, with None, delete) the endpoint if nothing changed it since it was read as `expected`."""
    outcome = await endpoint_store(state).replace(state.namespace, name, expected, record)
    if outcome == "NOTFOUND":
        raise _not_found(name)
    if outcome == "CHANGED":
        raise ConcurrentModificationException(
            f"Endpoint {name} is being changed by another request. Retry the request."
        )


async def _existing(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    found = await endpoint_store(state).get(_namespace(state, body), body["Name"])
    if found is None:
        raise _not_found(body["Name"])
    return found[0]


def _namespace(state: AppState, body: dict[str, Any]) -> Namespace:
    """Where Describe/ListEndpoints look: the caller's account in `HomeRegion` (an endpoint's home region is the one
    it was created in), or the caller's namespace."""
    home = body.get("HomeRegion")
    return Namespace(state.account_id, home) if home else state.namespace


def _new_id() -> str:
    """An id of AWS's form (`abcde12345.veo`): the endpoint URL's subdomain, which PutEvents' EndpointId names."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10)) + ".veo"


OPERATIONS: dict[str, Handler] = {
    "CreateEndpoint": create_endpoint,
    "DescribeEndpoint": describe_endpoint,
    "UpdateEndpoint": update_endpoint,
    "DeleteEndpoint": delete_endpoint,
    "ListEndpoints": list_endpoints,
}
