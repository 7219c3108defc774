"""Replays of pages bigger than the runner's decoding chunk (archive.runner `_CHUNK_EVENTS`): a page is fetched
before the previous one's append is sent and decoded in chunks while Redis runs that append, and every event still
arrives once, in event-time order, with the replay's name; a member that cannot be decoded is skipped wherever it
falls in a chunk, and an envelope that already names a replay gets the new name. Real uvicorn, real Redis (single and
cluster)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from archive import ArchiveOptions, codec, extension
from archive.keys import ArchiveKeys
from archive.runner import _CHUNK_EVENTS
from router.app import create_app
from router.keys import Keys
from tests.archive.conftest import (
    ACCOUNT,
    REGION,
    bus_arn,
    put,
    queue_bodies,
    replay_history_into_fresh,
    sync_client,
    wait_replay,
)
from tests.router.conftest import ServerThread, make_settings
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

BASE = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
EVENTS = 130
PAGE = 120


@pytest.fixture
def server(redis_url: str) -> Iterator[ServerThread]:
    """Pages of 120 events: three chunks each, so pages and chunks end at different events."""
    options = ArchiveOptions(replay_poll_interval_s=0.05, replay_lease_ms=3000, replay_page_events=PAGE)
    srv = ServerThread(create_app(make_settings(redis_url), extensions=[extension(options)]))
    srv.start()
    yield srv
    srv.stop()


def test_pages_bigger_than_a_chunk_append_every_event_once_in_order_skipping_junk(
    events_client: Any, redis_url: str
) -> None:
    assert PAGE > 2 * _CHUNK_EVENTS
    assert PAGE % _CHUNK_EVENTS
    client = events_client
    client.create_event_bus(Name="orders")
    client.create_archive(ArchiveName="history", EventSourceArn=bus_arn("orders"))
    seconds = [(n * 37) % EVENTS for n in range(EVENTS)]  # every second once, put out of order
    for start in range(0, EVENTS, 10):
        for n in range(start, start + 10):
            put(client, "orders", [{"n": n, "second": seconds[n]}], Time=BASE + seconds[n])
    eventually_sync(
        lambda: client.describe_archive(ArchiveName="history")["EventCount"] == EVENTS, what="the archived events"
    )
    sync = sync_client(redis_url)
    keys = ArchiveKeys(Keys())
    record = json.loads(sync.hget(keys.archives, "history"))
    events_key = keys.events("orders", "history", record["Generation"])
    members: Any = sync.zrange(events_key, 0, -1)
    # junk just after the events of seconds 54 and 75 (the second chunk of the first page, the second page's first):
    # a member of an unknown codec, and one whose frame is cut short
    junk = [
        members[54][: codec.KEY_BYTES - 1] + b"\xff" + b"\x00\x00\x00\x05\x09junk!",
        members[75][: codec.KEY_BYTES - 1] + b"\xfe" + members[75][codec.KEY_BYTES : -5],
    ]
    named = (
        b'{"version":"0","id":"pre-named","detail-type":"order","source":"shop","account":"' + ACCOUNT.encode()
        + b'","time":"2024-03-01T12:01:40.5Z","region":"' + REGION.encode()
        + b'","resources":[],"detail":{"n":"pre","second":100.5},"replay-name":"old"}'
    )  # fmt: skip
    time_ms = int((BASE + 100.5) * 1000)
    sync.zadd(events_key, dict.fromkeys([*junk, codec.encode(named, time_ms, 0, codec.import_seq(named))], 0))
    replay_history_into_fresh(client, "big", BASE, BASE + EVENTS)
    done = wait_replay(client, "big")
    eventually_sync(lambda: len(queue_bodies(redis_url, "replayed")) >= EVENTS + 1, what="every replayed event")
    bodies = [json.loads(body) for body in queue_bodies(redis_url, "replayed")]
    assert [body["detail"]["second"] for body in bodies] == [*range(101), 100.5, *range(101, EVENTS)]
    assert len({body["id"] for body in bodies}) == EVENTS + 1
    assert {body["replay-name"] for body in bodies} == {"big"}
    assert next(body for body in bodies if body["id"] == "pre-named")["detail"] == {"n": "pre", "second": 100.5}
    assert done["EventLastReplayedTime"].timestamp() == BASE + EVENTS - 1
    assert sync.hget(keys.replay_state("fresh", "big"), "appended") == str(EVENTS + 1).encode()
