"""API destinations: CreateApiDestination, DescribeApiDestination, ListApiDestinations, UpdateApiDestination and
DeleteApiDestination.

Thin handlers over router.connections.store, sharing the List paging of router.api.connections. An API
destination names its connection by ARN, and the ARN must name a connection that exists now (a connection deleted
and re-created under the same name has a new ARN).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.api._control import pick
from router.api.connections import list_page, store
from router.protocol import Handler
from router.state import AppState

_DESCRIBE = (
    "ApiDestinationArn",
    "Name",
    "Description",
    "ApiDestinationState",
    "ConnectionArn",
    "InvocationEndpoint",
    "HttpMethod",
    "InvocationRateLimitPerSecond",
    "CreationTime",
    "LastModifiedTime",
)
_SUMMARY = tuple(m for m in _DESCRIBE if m != "Description")
_CHANGE = ("ApiDestinationArn", "ApiDestinationState", "CreationTime", "LastModifiedTime")


async def create_api_destination(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    return pick(await store(state).create_destination(body), _CHANGE)


async def describe_api_destination(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    return pick(await store(state).get_destination(body["Name"]), _DESCRIBE)


async def list_api_destinations(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    return list_page(await store(state).list_destinations(), body, "ConnectionArn", "ApiDestinations", _SUMMARY)


async def update_api_destination(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    return pick(await store(state).update_destination(body), _CHANGE)


async def delete_api_destination(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    await store(state).delete_destination(body["Name"])
    return {}


OPERATIONS: dict[str, Handler] = {
    "CreateApiDestination": create_api_destination,
    "DescribeApiDestination": describe_api_destination,
    "ListApiDestinations": list_api_destinations,
    "UpdateApiDestination": update_api_destination,
    "DeleteApiDestination": delete_api_destination,
}
