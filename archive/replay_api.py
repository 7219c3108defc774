"""The replay operations of the `events` API: StartReplay, DescribeReplay, ListReplays, CancelReplay.

AWS's shapes, states and messages, with two documented differences (docs/archive.md):

- **Any destination bus.** `Destination.Arn` may name any bus of this router, including a new empty one with its
  own rules; AWS only replays into the archive's own bus ("Cross event bus replay is not permitted."). Replaying
  into the archive's bus behaves as on AWS.
- **Speed** (`start_replay(..., speed=)`, the CLI's `--speed`): as fast as possible by default, or the original
  pacing scaled by a factor. The wire API has no such member, so SDK calls replay as fast as possible.

Replays go in event-time order (AWS does not promise an order) and run in the background in whichever router
process claims them (`archive.runner`).
"""

from __future__ import annotations

import re
import time
from typing import Any

from archive.arns import archive_name, replay_arn
from archive.keys import ArchiveKeys
from archive.replays import ReplayState, ReplayStore
from archive.runner import window_ms
from archive.store import archive_store
from router.api._control import arns, existing_bus, paginate, pick, with_token
from router.errors import ResourceNotFoundException, ValidationException
from router.protocol import Handler
from router.state import AppState
from router.store import stores

__all__ = ["OPERATIONS", "replay_store", "start_replay"]

_BUS_ARN = re.compile(r"^arn:aws:events:[a-zA-Z0-9-]+:\d{12}:event-bus/")
_LIST_FIELDS = (
    "ReplayName",
    "EventSourceArn",
    "State",
    "StateReason",
    "EventStartTime",
    "EventEndTime",
    "EventLastReplayedTime",
    "ReplayStartTime",
    "ReplayEndTime",
)
_DESCRIBE_FIELDS = (*_LIST_FIELDS[:1], "ReplayArn", "Description", *_LIST_FIELDS[1:3], "Destination", *_LIST_FIELDS[3:])
_EXTRAS_KEY = "replay_store"


def replay_store(state: AppState) -> ReplayStore:
    """The process's replay store of the request's namespace (router.namespace)."""
    found = state.extras.get(_EXTRAS_KEY)
    if found is None:
        limit = state.settings.quotas.active_replays
        found = state.extras[_EXTRAS_KEY] = ReplayStore(
            state.redis, ArchiveKeys(state.keys), state.home, active_limit=limit
        )
    store: ReplayStore = found
    return store.within(state.namespace)


def _shown(record: dict[str, Any], state: ReplayState) -> dict[str, Any]:
    shown = dict(record)
    shown["State"] = state.state
    shown["StateReason"] = state.reason
    if state.last_ms is not None:
        shown["EventLastReplayedTime"] = state.last_ms / 1000
    shown["ReplayEndTime"] = state.end_s
    return shown


async def _only_rules(state: AppState, bus: str, filter_arns: list[str]) -> str:
    """FilterArns as the comma-separated rule names the ingest worker restricts delivery to."""
    names: list[str] = []
    _, rules = stores(state)
    for arn in filter_arns:
        ref = arns(state).resource(arn)
        if ref is None or ref.rule is None or ref.bus != bus:
            raise ValidationException(
                f"Parameter Destination.FilterArns is not valid. Reason: {arn} is not a rule of event bus {bus}."
            )
        if await rules.get(bus, ref.rule) is None:
            raise ResourceNotFoundException(f"Rule {ref.rule} does not exist on EventBus {bus}.")
        names.append(ref.rule)
    return ",".join(sorted(set(names)))


async def start_replay(state: AppState, body: dict[str, Any], *, speed: float | None = None) -> dict[str, Any]:
    """StartReplay, with the beyond-AWS `speed` (None: as fast as possible)."""
    name: str = body["ReplayName"]
    destination: dict[str, Any] = body["Destination"]
    if not _BUS_ARN.match(destination["Arn"]):
        raise ValidationException("Parameter Destination.Arn is not valid. Reason: Must contain an event bus ARN.")
    source = archive_name(arns(state), body["EventSourceArn"]) or body["EventSourceArn"].rsplit("/", 1)[-1]
    archive = await archive_store(state).get(source)
    if archive is None:
        raise ValidationException(f"Parameter EventSourceArn is not valid. Reason: Archive {source} does not exist.")
    start_s, end_s = float(body["EventStartTime"]), float(body["EventEndTime"])
    if end_s <= start_s:
        raise ValidationException(
            "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime."
        )
    if speed is not None and not (speed > 0 and speed < float("inf")):
        raise ValidationException("Parameter Speed is not valid. Reason: Speed must be a positive number.")
    bus, _, _ = await existing_bus(state, destination["Arn"])
    only = await _only_rules(state, bus, list(destination.get("FilterArns") or []))
    start_ms, end_ms = window_ms(start_s, end_s)
    record = {
        "ReplayName": name,
        "ReplayArn": replay_arn(arns(state), name),
        "Description": body.get("Description"),
        "EventSourceArn": archive["ArchiveArn"],
        "ArchiveName": archive["ArchiveName"],
        "Destination": {key: destination[key] for key in ("Arn", "FilterArns") if destination.get(key)},
        "DestinationBus": state.keys.scoped(bus, state.namespace),  # its key-layout name (router.keys)
        "EventStartTime": start_s,
        "EventEndTime": end_s,
        "WindowStartMs": start_ms,
        "WindowEndMs": end_ms,
        "ReplayStartTime": round(time.time(), 3),
        "Speed": speed,
        "OnlyRules": only,
    }
    await replay_store(state).create(record)
    return {"ReplayArn": record["ReplayArn"], "State": "STARTING", "ReplayStartTime": record["ReplayStartTime"]}


async def _start(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    return await start_replay(state, body)


async def describe_replay(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    store = replay_store(state)
    record = await store.require(body["ReplayName"])
    (found,) = await store.states([record])
    return pick(_shown(record, found), _DESCRIBE_FIELDS)


async def list_replays(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    prefix, source, wanted = body.get("NamePrefix"), body.get("EventSourceArn"), body.get("State")
    if sum(value is not None for value in (prefix, source, wanted)) > 1:
        raise ValidationException(
            "At most one filter is allowed for ListReplays. Use either : State, EventSourceArn, or NamePrefix."
        )
    store = replay_store(state)
    records = await store.all()
    if prefix is not None:
        records = [r for r in records if r["ReplayName"].startswith(prefix)]
    if source is not None:
        records = [r for r in records if r["EventSourceArn"] == source]
    shown = [_shown(r, s) for r, s in zip(records, await store.states(records), strict=True)]
    if wanted is not None:
        shown = [r for r in shown if r["State"] == wanted]
    page, token = paginate(shown, lambda r: str(r["ReplayName"]), body)
    return with_token({"Replays": [pick(r, _LIST_FIELDS) for r in page]}, token)


async def cancel_replay(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    store = replay_store(state)
    record = await store.require(body["ReplayName"])
    await store.cancel(record)
    return {"ReplayArn": record["ReplayArn"], "State": "CANCELLING"}


OPERATIONS: dict[str, Handler] = {
    "StartReplay": _start,
    "DescribeReplay": describe_replay,
    "ListReplays": list_replays,
    "CancelReplay": cancel_replay,
}
