"""Replays end to end: boto3 against a real uvicorn and a real Redis (single and cluster).

A replay appends the window's archived events, in event-time order, with `replay-name`, into any bus of the router
(a new empty one too); FilterArns restricts delivery to those rules; replayed events are never archived again."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from archive.replay_api import start_replay
from router.state import AppState
from tests.archive.conftest import (
    ACCOUNT,
    REGION,
    archived,
    bus_arn,
    put,
    queue_arn,
    queue_bodies,
    wait_replay,
)
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

BASE = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
ARCHIVE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:archive/history"


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def _history(client: Any, minutes: list[int], kinds: list[str] | None = None) -> None:
    """Bus `orders` with archive `history` (source shop), and one event per minute offset, put out of order."""
    client.create_event_bus(Name="orders")
    client.create_archive(ArchiveName="history", EventSourceArn=bus_arn("orders"), EventPattern='{"source":["shop"]}')
    kinds = kinds or ["shop"] * len(minutes)
    for n, (minute, source) in enumerate(zip(minutes, kinds, strict=True)):
        put(client, "orders", [{"n": n, "minute": minute}], Time=BASE + 60 * minute, Source=source)


def _archived_count(client: Any) -> int:
    count: int = client.describe_archive(ArchiveName="history")["EventCount"]
    return count


def _rule_to_queue(client: Any, bus: str, rule: str, queue: str) -> str:
    arn: str = client.put_rule(Name=rule, EventBusName=bus, EventPattern='{"source":["shop"]}')["RuleArn"]
    client.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn(queue)}])
    return arn


def test_replay_into_a_new_bus_delivers_the_window_in_event_time_order(events_client: Any, redis_url: str) -> None:
    client = events_client
    minutes = [5, 1, 3, 9, 0, 4, 2, 7]
    _history(client, minutes, ["shop", "shop", "other", "shop", "shop", "shop", "shop", "shop"])
    eventually_sync(lambda: _archived_count(client) == 7, what="seven archived events")
    client.create_event_bus(Name="fresh")
    _rule_to_queue(client, "fresh", "all", "replayed")

    started = client.start_replay(
        ReplayName="r1",
        EventSourceArn=ARCHIVE_ARN,
        EventStartTime=BASE + 60,
        EventEndTime=BASE + 60 * 5,
        Destination={"Arn": bus_arn("fresh")},
    )
    assert started["State"] == "STARTING"
    assert started["ReplayArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:replay/r1"
    done = wait_replay(client, "r1")
    eventually_sync(lambda: len(queue_bodies(redis_url, "replayed")) == 4, what="four replayed events")
    bodies = [json.loads(body) for body in queue_bodies(redis_url, "replayed")]
    # minutes 1..5 inclusive, source shop only (minute 3 was "other"): 1, 2, 4, 5 in event-time order
    assert [body["detail"]["minute"] for body in bodies] == [1, 2, 4, 5]
    assert {body["replay-name"] for body in bodies} == {"r1"}
    originals = {json.loads(e.event)["id"]: json.loads(e.event) for e in archived(redis_url, "history")}
    for body in bodies:
        original = originals[body["id"]]
        assert body["time"] == original["time"]
        assert {k: v for k, v in body.items() if k != "replay-name"} == original
    assert done["EventLastReplayedTime"].timestamp() == BASE + 60 * 5
    assert done["Destination"] == {"Arn": bus_arn("fresh")}
    assert done["EventSourceArn"] == ARCHIVE_ARN
    assert "ReplayEndTime" in done
    listed = client.list_replays()["Replays"]
    assert [(r["ReplayName"], r["State"]) for r in listed] == [("r1", "COMPLETED")]
    assert client.list_replays(State="RUNNING")["Replays"] == []


def test_replay_into_the_source_bus_is_not_archived_again(events_client: Any, redis_url: str) -> None:
    client = events_client
    _history(client, [0, 1, 2])
    _rule_to_queue(client, "orders", "live", "live")
    eventually_sync(lambda: len(queue_bodies(redis_url, "live")) == 3, what="the live events")
    eventually_sync(lambda: _archived_count(client) == 3, what="three archived events")
    client.start_replay(
        ReplayName="again",
        EventSourceArn=ARCHIVE_ARN,
        EventStartTime=BASE,
        EventEndTime=BASE + 3600,
        Destination={"Arn": bus_arn("orders")},
    )
    wait_replay(client, "again")
    eventually_sync(lambda: len(queue_bodies(redis_url, "live")) == 6, what="the replayed events too")
    replayed = [json.loads(b) for b in queue_bodies(redis_url, "live")[3:]]
    assert [b["replay-name"] for b in replayed] == ["again"] * 3
    # the ingest worker routed them (the queue got them) without archiving them again
    described = client.describe_archive(ArchiveName="history")
    assert described["EventCount"] == 3


def test_filter_arns_restrict_delivery_to_those_rules(events_client: Any, redis_url: str) -> None:
    client = events_client
    _history(client, [0, 1])
    eventually_sync(lambda: _archived_count(client) == 2, what="two archived events")
    client.create_event_bus(Name="fresh")
    chosen = _rule_to_queue(client, "fresh", "chosen", "chosen")
    _rule_to_queue(client, "fresh", "skipped", "skipped")
    _rule_to_queue(client, "fresh", "marker", "marker")
    client.start_replay(
        ReplayName="filtered",
        EventSourceArn=ARCHIVE_ARN,
        EventStartTime=BASE,
        EventEndTime=BASE + 3600,
        Destination={"Arn": bus_arn("fresh"), "FilterArns": [chosen]},
    )
    assert wait_replay(client, "filtered")["Destination"]["FilterArns"] == [chosen]
    eventually_sync(lambda: len(queue_bodies(redis_url, "chosen")) == 2, what="the chosen rule's events")
    # a later event through the same bus reaches every rule: so "skipped" had its chance and got nothing
    put(client, "fresh", [{"n": "later"}])
    eventually_sync(lambda: len(queue_bodies(redis_url, "marker")) == 1, what="the later event")
    eventually_sync(lambda: len(queue_bodies(redis_url, "skipped")) == 1, what="the later event on skipped")
    assert [json.loads(b)["detail"]["n"] for b in queue_bodies(redis_url, "skipped")] == ["later"]


async def test_cancel_mid_replay_stops_it(events_client: Any, redis_url: str, app_state: AppState) -> None:
    client = events_client
    _history(client, [0, 1, 30, 31])
    eventually_sync(lambda: _archived_count(client) == 4, what="four archived events")
    client.create_event_bus(Name="fresh")
    _rule_to_queue(client, "fresh", "all", "paced")
    body = {
        "ReplayName": "slow",
        "EventSourceArn": ARCHIVE_ARN,
        "EventStartTime": BASE,
        "EventEndTime": BASE + 3600,
        "Destination": {"Arn": bus_arn("fresh")},
    }
    await start_replay(app_state, body, speed=1.0)  # minute 30 is half an hour away at the original pace
    eventually_sync(lambda: len(queue_bodies(redis_url, "paced")) == 1, what="the first paced event")
    running = wait_replay(client, "slow", "RUNNING")
    assert running["EventLastReplayedTime"].timestamp() == BASE
    cancelled = client.cancel_replay(ReplayName="slow")
    assert cancelled["State"] == "CANCELLING"
    wait_replay(client, "slow", "CANCELLED")
    assert len(queue_bodies(redis_url, "paced")) <= 2
    assert _error(client.cancel_replay, ReplayName="slow") == (
        "IllegalStatusException",
        "Replay slow is not in a valid state for this operation.",
    )


async def test_replay_errors_have_aws_codes_and_messages(events_client: Any, app_state: AppState) -> None:
    client = events_client
    _history(client, [0, 60])  # a paced replay of this hour waits for minute 60 (a long time at speed 1e-6)
    eventually_sync(lambda: _archived_count(client) == 2, what="two archived events")
    window = {"EventStartTime": BASE, "EventEndTime": BASE + 60, "Destination": {"Arn": bus_arn("orders")}}
    assert _error(client.describe_replay, ReplayName="nope") == (
        "ResourceNotFoundException",
        "Replay nope does not exist.",
    )
    assert _error(client.cancel_replay, ReplayName="nope") == (
        "ResourceNotFoundException",
        "Replay nope does not exist.",
    )
    missing_archive = f"arn:aws:events:{REGION}:{ACCOUNT}:archive/missing"
    assert _error(client.start_replay, ReplayName="x", EventSourceArn=missing_archive, **window) == (
        "ValidationException",
        "Parameter EventSourceArn is not valid. Reason: Archive missing does not exist.",
    )
    backwards = {**window, "EventStartTime": BASE + 60, "EventEndTime": BASE}
    assert _error(client.start_replay, ReplayName="x", EventSourceArn=ARCHIVE_ARN, **backwards) == (
        "ValidationException",
        "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime.",
    )
    not_a_bus = {**window, "Destination": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}}
    assert _error(client.start_replay, ReplayName="x", EventSourceArn=ARCHIVE_ARN, **not_a_bus) == (
        "ValidationException",
        "Parameter Destination.Arn is not valid. Reason: Must contain an event bus ARN.",
    )
    no_bus = {**window, "Destination": {"Arn": bus_arn("gone")}}
    assert _error(client.start_replay, ReplayName="x", EventSourceArn=ARCHIVE_ARN, **no_bus) == (
        "ResourceNotFoundException",
        "Event bus gone does not exist.",
    )
    other_rule = {**window, "Destination": {"Arn": bus_arn("orders"), "FilterArns": [f"{bus_arn('x')}"]}}
    code, message = _error(client.start_replay, ReplayName="x", EventSourceArn=ARCHIVE_ARN, **other_rule)
    assert (code, message.split(" Reason: ")[0]) == (
        "ValidationException",
        "Parameter Destination.FilterArns is not valid.",
    )
    assert _error(client.list_replays, NamePrefix="a", State="RUNNING") == (
        "ValidationException",
        "At most one filter is allowed for ListReplays. Use either : State, EventSourceArn, or NamePrefix.",
    )
    # at most 10 active replays (paced ones stay active for a long time)
    far = {**window, "EventEndTime": BASE + 86_400}
    for n in range(10):
        body = {"ReplayName": f"slow-{n}", "EventSourceArn": ARCHIVE_ARN, **far}
        await start_replay(app_state, body, speed=1e-6)
    assert _error(client.start_replay, ReplayName="eleventh", EventSourceArn=ARCHIVE_ARN, **window) == (
        "LimitExceededException",
        "The requested resource exceeds the maximum number allowed.",
    )
    assert _error(client.start_replay, ReplayName="slow-0", EventSourceArn=ARCHIVE_ARN, **window) == (
        "ResourceAlreadyExistsException",
        "Replay slow-0 already exists.",
    )
    client.cancel_replay(ReplayName="slow-0")
    wait_replay(client, "slow-0", "CANCELLED")
    eventually_sync(lambda: not _limit_reached(client, window), what="a free active slot")


def _limit_reached(client: Any, window: dict[str, Any]) -> bool:
    try:
        client.start_replay(ReplayName="eleventh", EventSourceArn=ARCHIVE_ARN, **window)
    except ClientError as err:
        code = err.response["Error"]["Code"]
        if code != "LimitExceededException":
            raise
        return True
    return False
