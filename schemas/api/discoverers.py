"""Discovery operations: CreateDiscoverer, DescribeDiscoverer, UpdateDiscoverer, DeleteDiscoverer, ListDiscoverers,
StartDiscoverer, StopDiscoverer, and GetDiscoveredSchema (synchronous inference from 1-10 events).

CreateDiscoverer takes the ARN of a bus of this account and region (anything else, or a bus that does not exist,
is a BadRequestException) and starts at once, as on AWS. See `schemas.discovery` for what a started one does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from router.state import AppState
from schemas.api import tags as tag_ops
from schemas.api.protocol import Handler
from schemas.content import JSON_SCHEMA_DRAFT4, to_draft4
from schemas.discovery import discoverers as store
from schemas.discovery.infer import merge, to_openapi
from schemas.errors import BadRequestException
from schemas.paging import page

__all__ = ["OPERATIONS"]

_FIELDS = ("Description", "DiscovererArn", "DiscovererId", "SourceArn", "State", "CrossAccount", "Tags")
_SUMMARY = ("DiscovererArn", "DiscovererId", "SourceArn", "State", "CrossAccount", "Tags")


def _pick(record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: record[name] for name in fields if record.get(name) is not None}


async def create_discoverer(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    cross_account = params.get("CrossAccount")
    record = await store.create_discoverer(
        state,
        params["SourceArn"],
        params.get("Description"),
        True if cross_account is None else cross_account,
        params.get("Tags") or {},
    )
    return _pick(record, _FIELDS)


async def describe_discoverer(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    record = await store.get_discoverer(state, params["DiscovererId"])
    if record is None:
        raise store.not_found(params["DiscovererId"])
    return _pick(record, _FIELDS)


async def update_discoverer(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    def update(record: dict[str, Any]) -> dict[str, Any]:
        changed = dict(record)
        for name in ("Description", "CrossAccount"):
            if name in params:
                changed[name] = params[name]
        return changed

    return _pick(await store.change_discoverer(state, params["DiscovererId"], update), _FIELDS)


async def delete_discoverer(state: AppState, params: dict[str, Any]) -> None:
    await store.delete_discoverer(state, params["DiscovererId"])


async def _set_state(state: AppState, params: dict[str, Any], wanted: str) -> dict[str, Any]:
    record = await store.change_discoverer(state, params["DiscovererId"], lambda r: {**r, "State": wanted})
    return {"DiscovererId": record["DiscovererId"], "State": record["State"]}


async def start_discoverer(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    return await _set_state(state, params, "STARTED")


async def stop_discoverer(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    return await _set_state(state, params, "STOPPED")


async def list_discoverers(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    id_prefix = params.get("DiscovererIdPrefix") or ""
    arn_prefix = params.get("SourceArnPrefix") or ""
    found = [
        d
        for d in await store.all_discoverers(state)
        if d["DiscovererId"].startswith(id_prefix) and d["SourceArn"].startswith(arn_prefix)
    ]
    chosen, token = page(found, lambda d: str(d["DiscovererId"]), params)
    return {"Discoverers": [_pick(d, _SUMMARY) for d in chosen], "NextToken": token}


def _infer(events: list[str], schema_type: str) -> str:
    parsed = []
    for index, text in enumerate(events, start=1):
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            raise BadRequestException(f"Event {index} is not valid JSON.") from err
        if not isinstance(event, dict) or not all(isinstance(event.get(k), str) for k in ("source", "detail-type")):
            raise BadRequestException(f"Event {index} is not an event: it needs string source and detail-type.")
        if not isinstance(event.get("detail"), dict):
            raise BadRequestException(f"Event {index} is not an event: its detail must be a JSON object.")
        parsed.append(event)
    first = parsed[0]
    doc = to_openapi(first["source"], first["detail-type"], merge(None, [e["detail"] for e in parsed]))
    if schema_type == JSON_SCHEMA_DRAFT4:
        doc = to_draft4("OpenApi3", doc)
    return orjson.dumps(doc).decode()


async def get_discovered_schema(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    return {"Content": await asyncio.to_thread(_infer, params["Events"], params["Type"])}


async def _tag_discoverer(state: AppState, name: str, apply: Any) -> None:
    if await store.get_discoverer(state, name) is None:
        raise tag_ops.not_found_arn(name)
    await store.change_discoverer(state, name, apply)


tag_ops.TAG_HOOKS["discoverer"] = _tag_discoverer

OPERATIONS: dict[str, Handler] = {
    "CreateDiscoverer": create_discoverer,
    "DescribeDiscoverer": describe_discoverer,
    "UpdateDiscoverer": update_discoverer,
    "DeleteDiscoverer": delete_discoverer,
    "ListDiscoverers": list_discoverers,
    "StartDiscoverer": start_discoverer,
    "StopDiscoverer": stop_discoverer,
    "GetDiscoveredSchema": get_discovered_schema,
}
