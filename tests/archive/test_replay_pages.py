"""Replays of many pages: the runner reads the next page while the append script runs, and the append script itself
applies the destination's backpressure (FULL: nothing appended, the lease renewed). Real uvicorn, real Redis
(single and cluster)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from archive import ArchiveOptions, extension
from archive.keys import ArchiveKeys
from archive.replays import ReplayStore
from router.app import create_app
from router.keys import INGEST_GROUP
from router.state import AppState
from tests.archive.conftest import bus_arn, put, queue_bodies, replay_history_into_fresh, sync_client, wait_replay
from tests.router.conftest import ServerThread, make_settings
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

BASE = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
EVENTS = 40


@pytest.fixture
def server(redis_url: str) -> Iterator[ServerThread]:
    """Pages of 3 events and a backlog limit of 4: a replay of 40 events takes 14 pages, and most of them wait
    for the ingest worker to drain the destination first."""
    options = ArchiveOptions(
        replay_poll_interval_s=0.05, replay_lease_ms=3000, replay_page_events=3, replay_backlog_limit_events=4
    )
    srv = ServerThread(create_app(make_settings(redis_url), extensions=[extension(options)]))
    srv.start()
    yield srv
    srv.stop()


def test_a_replay_of_many_pages_appends_each_event_once_in_event_time_order(events_client: Any, redis_url: str) -> None:
    client = events_client
    client.create_event_bus(Name="orders")
    client.create_archive(ArchiveName="history", EventSourceArn=bus_arn("orders"))
    minutes = [(n * 17) % EVENTS for n in range(EVENTS)]  # every minute once, put out of order
    for n, minute in enumerate(minutes):
        put(client, "orders", [{"n": n, "minute": minute}], Time=BASE + 60 * minute)
    eventually_sync(
        lambda: client.describe_archive(ArchiveName="history")["EventCount"] == EVENTS, what="the archived events"
    )
    replay_history_into_fresh(client, "paged", BASE, BASE + 60 * EVENTS)
    done = wait_replay(client, "paged")
    eventually_sync(lambda: len(queue_bodies(redis_url, "replayed")) >= EVENTS, what="every replayed event")
    bodies = [json.loads(body) for body in queue_bodies(redis_url, "replayed")]
    assert [body["detail"]["minute"] for body in bodies] == list(range(EVENTS))
    assert len({body["id"] for body in bodies}) == EVENTS
    assert {body["replay-name"] for body in bodies} == {"paged"}
    assert done["EventLastReplayedTime"].timestamp() == BASE + 60 * (EVENTS - 1)


async def test_the_append_script_refuses_a_page_while_the_destination_backlog_is_over_the_limit(
    app_state: AppState, redis_url: str
) -> None:
    keys = ArchiveKeys(app_state.keys)
    store = ReplayStore(app_state.redis, keys)
    record = {"ReplayName": "r", "DestinationBus": "dest"}
    sync = sync_client(redis_url)
    sync.set(app_state.keys.bus_exists("dest"), 1)
    stream = app_state.keys.ingest("dest")
    sync.xgroup_create(stream, INGEST_GROUP, id="0", mkstream=True)
    for n in range(3):
        sync.xadd(stream, {"event": f"waiting {n}"})  # unread by the ingest group: lag 3
    assert await store.claim(record, "me", 1000) is not None

    def page(limit: int) -> dict[str, Any]:
        return {
            "me": "me",
            "expected": b"",
            "checkpoint": b"\x01" * 24,
            "last_ms": 5,
            "lease_ms": 60_000,
            "events": [b'{"a":1}', b'{"a":2}'],
            "only_rules": "r1,r2",
            "backlog_limit": limit,
        }

    assert (await store.append(record, **page(2))).outcome == "FULL"
    (state,) = await store.states([record])
    assert (state.checkpoint, state.appended, int(sync.xlen(stream))) == (b"", 0, 3)
    assert int(sync.pttl(keys.replay_lease("dest", "r"))) > 1000  # the refusal renewed the lease
    sync.xreadgroup(INGEST_GROUP, "worker", {stream: ">"}, count=1)  # one read: pending 1 + lag 2 = 3 still wait
    assert (await store.append(record, **page(2))).outcome == "FULL"
    assert (await store.append(record, **page(3))).outcome == "OK"
    (state,) = await store.states([record])
    assert (state.state, state.checkpoint, state.last_ms, state.appended) == ("RUNNING", b"\x01" * 24, 5, 2)
    appended: Any = sync.xrange(stream)
    assert [fields for _, fields in appended[3:]] == [
        {b"event": b'{"a":1}', b"only_rules": b"r1,r2"},
        {b"event": b'{"a":2}', b"only_rules": b"r1,r2"},
    ]
    # the same page again: its checkpoint moved, so it is never appended twice
    assert (await store.append(record, **page(0))).outcome == "MOVED"
