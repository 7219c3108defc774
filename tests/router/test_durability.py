"""Durability: an accepted event is never lost, even when the router and Redis are killed with SIGKILL.

A dedicated redis-server with the append-only file on serves a real `switchboard serve` process. A burst of PutEvents
is accepted, then both processes are killed with -9 at once (no shutdown of any kind); Redis is restarted on the
same data directory and a new router on it. Every accepted event must then arrive at the rule's queue target (judged
by EventId: at least once, twice only if the killed router held it unacknowledged) and be counted exactly once.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from router.delivery.jobs import event_id_of
from router.keys import INGEST_GROUP, Keys
from tests.conftest import RedisServer
from tests.router._serve import ServeProcess, bus_count, rule_count
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

SENDERS = 4
KILL_AFTER_EVENTS = 1500
KEYS = Keys()
PATTERN = orjson.dumps({"source": ["durability.test"]}).decode()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    data = tmp_path / "redis"
    data.mkdir()
    server = RedisServer(data, appendonly=True)
    try:
        yield server
    finally:
        server.stop()


def test_killed_router_and_redis_lose_no_accepted_event(tmp_path: Path, aof_redis: RedisServer) -> None:
    first = ServeProcess(tmp_path, aof_redis.url)
    restarted_redis: RedisServer | None = None
    second: ServeProcess | None = None
    try:
        first.wait_ready()
        with httpx.Client(timeout=10) as client:
            for name, state in (("counted", "ENABLED"), ("switched-off", "DISABLED")):
                response = first.call(client, "PutRule", {"Name": name, "EventPattern": PATTERN, "State": state})
                assert response.status_code == 200, response.text
                targets = {"Rule": name, "Targets": [{"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:123456789012:{name}"}]}
                assert first.call(client, "PutTargets", targets).status_code == 200

        accepted_ids: list[str] = []

        def send(sender: int) -> None:
            """Send batches of 10 until the router dies; keep the EventIds of accepted entries."""
            with httpx.Client(timeout=10) as client:
                for batch in range(10_000):
                    entries = [
                        {
                            "Source": "durability.test",
                            "DetailType": "t",
                            "Detail": f'{{"s":{sender},"b":{batch},"i":{i}}}',
                        }
                        for i in range(10)
                    ]
                    try:
                        result = first.put_events(client, entries)
                    except httpx.HTTPError:
                        return
                    accepted_ids.extend(e["EventId"] for e in result["Entries"] if "EventId" in e)

        with ThreadPoolExecutor(SENDERS) as pool:
            for sender in range(SENDERS):
                pool.submit(send, sender)
            eventually_sync(lambda: len(accepted_ids) >= KILL_AFTER_EVENTS, timeout_s=60, interval_s=0.005)
            # Freeze the router mid-burst until the ingest log holds events it has not acknowledged (so the
            # recovery path must run), then kill it -9 while frozen: requests are in flight, events being matched.
            eventually_sync(lambda: _frozen_with_backlog(first, aof_redis.url), timeout_s=30, what="a backlog")
            at_kill = _stream_state(aof_redis.url)
            first.kill()
        accepted = set(accepted_ids)
        assert len(accepted) == len(accepted_ids)  # EventIds are unique
        aof_redis.proc.send_signal(signal.SIGKILL)
        aof_redis.proc.wait()

        restarted_redis = RedisServer(aof_redis.data_dir, appendonly=True)
        recovered = _stream_state(restarted_redis.url)
        assert recovered == at_kill  # the append-only file kept the log and the group exactly as they were
        appended, held, unread = recovered
        assert held or unread, recovered
        # Entries of requests in flight at the kill may be stored without their answer having reached the client.
        assert len(accepted) <= appended <= len(accepted) + SENDERS * 10
        second = ServeProcess(tmp_path, restarted_redis.url).wait_ready()

        def all_acknowledged() -> bool:
            return _stream_state(restarted_redis.url)[1:] == (set(), 0)

        # Events the killed router held unacknowledged are claimed after claim_min_idle_ms (5 s).
        eventually_sync(all_acknowledged, timeout_s=40, interval_s=0.1, what="every stored event acknowledged")
        arrived = _arrived(restarted_redis.url, "counted")
        assert accepted <= set(arrived)  # every accepted event arrived ...
        assert len(arrived) == appended  # ... and so did every stored one (each stored event has its own id)
        duplicated = {event_id for event_id, times in arrived.items() if times > 1}
        assert duplicated <= held  # only an event held unacknowledged at the kill may arrive twice ...
        assert max(arrived.values()) <= 2  # ... and at most once more
        assert _arrived(restarted_redis.url, "switched-off") == {}
        metrics = second.metrics()
        # Counting is exactly once: one count per distinct stored event, however often it was delivered.
        assert rule_count(metrics, "default", "counted") == len(arrived)
        assert rule_count(metrics, "default", "switched-off") == 0
        assert bus_count(metrics, "switchboard_matched_events_total", "default") == len(arrived)
        assert bus_count(metrics, "switchboard_ingested_events_total", "default") == len(arrived)
        assert bus_count(metrics, "switchboard_ingest_backlog_events", "default") == 0
    finally:
        first.kill()
        if second is not None:
            second.stop()
        if restarted_redis is not None:
            restarted_redis.stop()


def _frozen_with_backlog(router: ServeProcess, url: str) -> bool:
    """SIGSTOP the router; True (and it stays frozen) if the ingest log then holds unacknowledged events."""
    router.proc.send_signal(signal.SIGSTOP)
    _, held, unread = _stream_state(url)
    if held or unread:
        return True
    router.proc.send_signal(signal.SIGCONT)
    return False


def _stream_state(url: str) -> tuple[int, set[str], int]:
    """Of the default bus's ingest log: (entries ever appended, EventIds of the entries the router group holds
    unacknowledged, entries the group has not read yet)."""
    client = redis.Redis.from_url(url)
    try:
        stream = KEYS.ingest("default")
        appended = int(client.xinfo_stream(stream)["entries-added"])
        (group,) = [g for g in client.xinfo_groups(stream) if g["name"] == INGEST_GROUP.encode()]
        held: set[str] = set()
        for pending in client.xpending_range(stream, INGEST_GROUP, "-", "+", 100_000):
            entry_id = pending["message_id"]
            entry: Any = client.xrange(stream, entry_id, entry_id)
            if entry:  # acknowledged and trimmed between XPENDING and XRANGE: no longer held
                held.add(event_id_of(entry[0][1][b"event"]))
        last = group["last-delivered-id"].decode()
        after: Any = client.xrange(stream, f"({last}", "+")
        unread = len(after)
        return appended, held, unread
    finally:
        client.close()


def _arrived(url: str, queue: str) -> Counter[str]:
    """How many times each EventId arrived at a queue target."""
    client = redis.Redis.from_url(url)
    try:
        entries: Any = client.xrange(KEYS.queue(queue))
        return Counter(orjson.loads(fields[b"body"])["id"] for _, fields in entries)
    finally:
        client.close()
