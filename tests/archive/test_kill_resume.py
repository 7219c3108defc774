"""kill -9 of the process running a replay of 50,000 events: another process finishes it, and the destination
queue holds each event exactly once.

Three router processes share one Redis: B routes and delivers (ingest and delivery workers, no archive package);
A, a child process, serves the API and runs the archive background (no ingest worker), so it is the one running
the replay when it is killed -9 mid-replay; C starts afterwards with the archive background and, once A's lease
lapses, resumes the replay at its checkpoint. Because the process killed did no routing, every duplicate or gap
in the queue could only come from the replay itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archive import ArchiveOptions, codec, extension
from archive.keys import ArchiveKeys
from router.app import create_app
from router.keys import Keys
from tests.archive.conftest import bus_arn, queue_arn
from tests.conftest import free_port, sync_client
from tests.router.conftest import ServerThread, boto3_client, make_settings
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

EVENTS = 50_000
BASE_MS = 1_709_294_400_000  # 2024-03-01T12:00:00Z

_CHILD = textwrap.dedent(
    """
    import sys, uvicorn
    from archive import ArchiveOptions, extension
    from router.app import create_app
    from router.settings import Settings
    # a small backlog limit: A appends only as fast as B routes, so it is surely killed mid-replay
    options = ArchiveOptions(
        replay_poll_interval_s=0.05, replay_lease_ms=2000, replay_page_events=500, replay_backlog_limit_events=2000
    )
    app = create_app(Settings(redis_url=sys.argv[1]), ingest=False, extensions=[extension(options)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    """
)


def _client(url: str) -> Any:
    return boto3_client(url)


@pytest.fixture
def router_b(redis_url: str) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(make_settings(redis_url), extensions=[]))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def child_a(redis_url: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, redis_url, str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    client = _client(url)

    def up() -> bool:
        try:
            client.list_event_buses()
        except Exception:
            return False
        return True

    eventually_sync(up, 30, what="router A to serve")
    yield proc, url
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=15)


def _envelope(n: int) -> bytes:
    head = {
        "version": "0",
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "detail-type": "order",
        "source": "shop",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE_MS / 1000 + n // 100)),
        "region": "us-east-1",
        "resources": [],
    }
    return json.dumps(head, separators=(",", ":")).encode()[:-1] + b',"detail":{"n":%d,"pad":"%s"}}' % (n, b"x" * 300)


def test_a_replay_killed_mid_way_is_finished_by_another_process_exactly_once(
    redis_url: str, router_b: ServerThread, child_a: tuple[subprocess.Popen[bytes], str]
) -> None:
    proc, url_a = child_a
    api = _client(url_a)
    api.create_event_bus(Name="orders")
    api.create_archive(ArchiveName="big", EventSourceArn=bus_arn("orders"))
    api.create_event_bus(Name="fresh")
    api.put_rule(Name="all", EventBusName="fresh", EventPattern='{"source":["shop"]}')
    api.put_targets(Rule="all", EventBusName="fresh", Targets=[{"Id": "q", "Arn": queue_arn("out")}])

    keys = ArchiveKeys(Keys())
    client = sync_client(redis_url)
    record = json.loads(client.hget(keys.archives, "big") or b"{}")
    events_key = keys.events("orders", "big", record["Generation"])
    stats_key = keys.stats("orders", "big", record["Generation"])
    for start in range(0, EVENTS, 5000):
        batch = [_envelope(n) for n in range(start, start + 5000)]
        members = {codec.encode(e, codec.event_time_ms(e) or 0, 0, codec.import_seq(e)): 0 for e in batch}
        client.zadd(events_key, members)
        client.hincrby(stats_key, "bytes", sum(len(e) for e in batch))
    assert api.describe_archive(ArchiveName="big")["EventCount"] == EVENTS

    api.start_replay(
        ReplayName="big-replay",
        EventSourceArn="arn:aws:events:us-east-1:123456789012:archive/big",
        EventStartTime=BASE_MS / 1000,
        EventEndTime=BASE_MS / 1000 + 86_400,
        Destination={"Arn": bus_arn("fresh")},
    )
    state_key = keys.replay_state("fresh", "big-replay")

    def appended() -> int:
        return int(client.hget(state_key, "appended") or 0)

    eventually_sync(lambda: appended() >= 5_000, 60, interval_s=0.005, what="A to append a few pages")
    os.kill(proc.pid, signal.SIGSTOP)  # frozen at once: what it appended is final, then it dies without a word
    at_kill = appended()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=15)
    assert 0 < at_kill < EVENTS, at_kill  # killed mid-replay
    assert client.hget(state_key, "state") == b"RUNNING"

    options = ArchiveOptions(replay_poll_interval_s=0.05, replay_lease_ms=2000)
    router_c = ServerThread(create_app(make_settings(redis_url), ingest=False, extensions=[extension(options)]))
    router_c.start()
    try:
        eventually_sync(lambda: client.hget(state_key, "state") == b"COMPLETED", 120, what="C to finish the replay")
        assert appended() == EVENTS
        info: Any = client.xinfo_stream(Keys().ingest("fresh"))
        assert info["entries-added"] == EVENTS  # every event appended exactly once
        eventually_sync(lambda: client.xlen(Keys().queue("out")) >= EVENTS, 180, what="every event in the queue")
        bodies: Any = client.xrange(Keys().queue("out"))
        events = [json.loads(fields[b"body"]) for _, fields in bodies]
        assert len(events) == EVENTS
        assert sorted(e["detail"]["n"] for e in events) == list(range(EVENTS))
        times = [e["time"] for e in events]
        assert times == sorted(times)  # one router routed them, in event-time order
        assert {e["replay-name"] for e in events} == {"big-replay"}
    finally:
        router_c.stop()
        client.close()
