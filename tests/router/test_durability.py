"""Durability: an accepted event is never lost, even when the router and Redis are killed with SIGKILL.

A dedicated redis-server with the append-only file on serves a real `switchboard serve` process. A burst of PutEvents
is accepted, then both processes are killed with -9 at once (no shutdown of any kind); Redis is restarted on the
same data directory and a new router on it. Every accepted event must then be matched and counted exactly once.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from router.keys import INGEST_GROUP, Keys
from tests.conftest import RedisServer
from tests.router._serve import ServeProcess, bus_count, rule_count, wait_for

pytestmark = pytest.mark.integration

SENDERS = 4
KILL_AFTER_EVENTS = 1500
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
            assert wait_for(lambda: len(accepted_ids) >= KILL_AFTER_EVENTS, timeout_s=60, interval_s=0.005)
            first.kill()  # mid-burst: requests are in flight, events are being matched
        accepted = len(set(accepted_ids))
        aof_redis.proc.send_signal(signal.SIGKILL)
        aof_redis.proc.wait()

        restarted_redis = RedisServer(aof_redis.data_dir, appendonly=True)
        appended, backlog = _stream_state(restarted_redis.url)
        print(f"at the kill: {accepted} accepted, {appended} appended, {backlog} not yet acknowledged")
        # Entries of requests in flight at the kill may be stored without their answer having reached the client.
        assert accepted <= appended <= accepted + SENDERS * 10
        second = ServeProcess(tmp_path, restarted_redis.url).wait_ready()

        def all_counted() -> bool:
            metrics = second.metrics()
            return rule_count(metrics, "default", "counted") >= appended

        # Events the killed router held unacknowledged are claimed after claim_min_idle_ms (5 s).
        assert wait_for(all_counted, timeout_s=40), second.metrics()
        metrics = second.metrics()
        # Every stored event (so every accepted one) is counted exactly once.
        assert rule_count(metrics, "default", "counted") == appended
        assert rule_count(metrics, "default", "switched-off") == 0
        assert bus_count(metrics, "switchboard_matched_events_total", "default") == appended
        assert bus_count(metrics, "switchboard_ingested_events_total", "default") == appended
        assert wait_for(lambda: bus_count(second.metrics(), "switchboard_ingest_backlog_events", "default") == 0, 10)
    finally:
        first.kill()
        if second is not None:
            second.stop()
        if restarted_redis is not None:
            restarted_redis.stop()


def _stream_state(url: str) -> tuple[int, int]:
    """(entries ever appended to the default bus's ingest stream, entries the router group has not acknowledged)."""
    client = redis.Redis.from_url(url)
    try:
        stream = Keys().ingest("default")
        appended = int(client.xinfo_stream(stream)["entries-added"])
        for group in client.xinfo_groups(stream):
            if group["name"] == INGEST_GROUP.encode():
                return appended, int(group["pending"]) + int(group["lag"] or 0)
        return appended, appended
    finally:
        client.close()
