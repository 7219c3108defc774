"""Replays that cannot finish end FAILED with a StateReason (the archive or the destination bus deleted mid-replay),
a paced replay reads its waiting page again (an event archived after its checkpoint is not skipped), and
ListReplays filters and pages. boto3 against a real uvicorn and a real Redis (single and cluster)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from archive.replay_api import start_replay
from router.state import AppState
from tests.archive.conftest import ACCOUNT, REGION, bus_arn, put, queue_arn, queue_bodies, wait_replay
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

BASE = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
ARCHIVE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:archive/history"


def _history(client: Any, minutes: int) -> None:
    client.create_event_bus(Name="orders")
    client.create_archive(ArchiveName="history", EventSourceArn=bus_arn("orders"))
    for minute in range(minutes):
        put(client, "orders", [{"minute": minute}], Time=BASE + 60 * minute)
    eventually_sync(
        lambda: client.describe_archive(ArchiveName="history")["EventCount"] == minutes, what="the archived events"
    )


def _body(name: str, destination: str, minutes: int = 60) -> dict[str, Any]:
    return {
        "ReplayName": name,
        "EventSourceArn": ARCHIVE_ARN,
        "EventStartTime": BASE,
        "EventEndTime": BASE + 60 * minutes,
        "Destination": {"Arn": bus_arn(destination)},
    }


async def test_deleting_the_archive_mid_replay_fails_the_replay(events_client: Any, app_state: AppState) -> None:
    client = events_client
    _history(client, 3)
    client.create_event_bus(Name="fresh")
    await start_replay(app_state, _body("slow", "fresh"), speed=1e-3)  # the second event is ~17 hours away
    wait_replay(client, "slow", "RUNNING")
    client.delete_archive(ArchiveName="history")
    failed = wait_replay(client, "slow", "FAILED")
    assert failed["StateReason"] == "Archive history does not exist."
    assert failed["EventLastReplayedTime"].timestamp() == BASE


async def test_deleting_the_destination_bus_mid_replay_fails_the_replay(
    events_client: Any, app_state: AppState
) -> None:
    client = events_client
    _history(client, 3)
    client.create_event_bus(Name="fresh")  # no rules, so it can be deleted
    await start_replay(app_state, _body("paced", "fresh"), speed=30.0)  # one event every 2 s
    wait_replay(client, "paced", "RUNNING")
    client.delete_event_bus(Name="fresh")
    failed = wait_replay(client, "paced", "FAILED")
    assert failed["StateReason"] == "Event bus fresh does not exist."
    assert client.list_replays(State="FAILED")["Replays"][0]["ReplayName"] == "paced"


def test_list_replays_filters_and_pages(events_client: Any) -> None:
    client = events_client
    _history(client, 1)
    for name in ("b-2", "a-1", "b-1"):
        client.start_replay(**_body(name, "orders"))
    for name in ("a-1", "b-1", "b-2"):
        wait_replay(client, name)
    first = client.list_replays(Limit=2)
    assert [r["ReplayName"] for r in first["Replays"]] == ["a-1", "b-1"]
    rest = client.list_replays(Limit=2, NextToken=first["NextToken"])
    assert [r["ReplayName"] for r in rest["Replays"]] == ["b-2"]
    assert "NextToken" not in rest
    assert [r["ReplayName"] for r in client.list_replays(NamePrefix="b-")["Replays"]] == ["b-1", "b-2"]
    assert len(client.list_replays(EventSourceArn=ARCHIVE_ARN)["Replays"]) == 3
    assert client.list_replays(EventSourceArn=f"{ARCHIVE_ARN}-other")["Replays"] == []
    assert [r["State"] for r in client.list_replays(State="COMPLETED")["Replays"]] == ["COMPLETED"] * 3


async def test_a_paced_replay_picks_up_an_event_archived_after_its_checkpoint(
    events_client: Any, app_state: AppState, redis_url: str
) -> None:
    client = events_client
    _history(client, 1)
    put(client, "orders", [{"minute": 600}], Time=BASE + 60 * 600)  # ten hours later: 10 minutes away at 60x
    client.create_event_bus(Name="fresh")
    client.put_rule(Name="all", EventBusName="fresh", EventPattern='{"source":["shop"]}')
    client.put_targets(Rule="all", EventBusName="fresh", Targets=[{"Id": "q", "Arn": queue_arn("late")}])
    await start_replay(app_state, _body("paced", "fresh", minutes=700), speed=60.0)
    eventually_sync(lambda: len(queue_bodies(redis_url, "late")) == 1, what="minute 0 replayed")
    put(client, "orders", [{"minute": 1}], Time=BASE + 60)  # after the checkpoint, before the waiting page's start
    eventually_sync(lambda: len(queue_bodies(redis_url, "late")) == 2, what="minute 1 replayed")
    assert [json.loads(b)["detail"]["minute"] for b in queue_bodies(redis_url, "late")] == [0, 1]
    client.cancel_replay(ReplayName="paced")
    wait_replay(client, "paced", "CANCELLED")
