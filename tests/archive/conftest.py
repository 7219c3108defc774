"""Fixtures for the archive tests: the router's real uvicorn server and boto3 client (tests.router.conftest),
plus helpers to read a queue target and an archive's stored events straight from Redis."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from archive import ArchiveOptions, codec, extension
from archive.keys import ArchiveKeys
from router import redis_client
from router.app import create_app
from router.keys import Keys
from router.state import AppState
from tests.conftest import run_cli
from tests.conftest import sync_client as _any_sync_client
from tests.router.conftest import ServerThread, events_client, make_settings  # noqa: F401 - fixture re-exported
from tests.waiting import eventually_sync

ACCOUNT = "123456789012"


def sync_client(url: str) -> Any:
    """A synchronous client of the test's Redis (a cluster client on the cluster)."""
    return _any_sync_client(url)


REGION = "us-east-1"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def bus_arn(name: str) -> str:
    return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"


def queue_bodies(redis_url: str, name: str) -> list[bytes]:
    """The bodies a queue target received, in order."""
    client = sync_client(redis_url)
    entries: Any = client.xrange(Keys().queue(name))
    return [fields[b"body"] for _, fields in entries]


def archived(redis_url: str, archive: str) -> list[codec.Decoded]:
    """The events stored for `archive`, in storage (event-time) order."""
    client = sync_client(redis_url)
    keys = ArchiveKeys(Keys())
    raw: Any = client.hget(keys.archives, archive)
    record = json.loads(raw)
    members: Any = client.zrange(keys.events(record["EventBusName"], archive, record["Generation"]), 0, -1)
    found: Any = client.hgetall(keys.dicts(record["EventBusName"], archive, record["Generation"]))
    dictionaries = {int(i): codec.Dictionary(int(i), data) for i, data in found.items()}
    return [codec.decode(member, dictionaries) for member in members]


def put(client: Any, bus: str, details: list[dict[str, Any]], **entry: Any) -> list[str]:
    """PutEvents of one entry per detail (10 per call); the event ids."""
    ids: list[str] = []
    entries = [
        {"EventBusName": bus, "Source": "shop", "DetailType": "order", "Detail": json.dumps(d), **entry}
        for d in details
    ]
    for start in range(0, len(entries), 10):
        answer = client.put_events(Entries=entries[start : start + 10])
        assert answer["FailedEntryCount"] == 0, answer
        ids += [e["EventId"] for e in answer["Entries"]]
    return ids


@pytest.fixture
def server(redis_url: str) -> Iterator[ServerThread]:
    """The router with the archive extension whose background work runs fast (replays claimed within 50 ms)."""
    options = ArchiveOptions(replay_poll_interval_s=0.05, replay_lease_ms=3000, maintenance_interval_s=0.2)
    srv = ServerThread(create_app(make_settings(redis_url), extensions=[extension(options)]))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
async def app_state(redis_url: str) -> AsyncIterator[AppState]:
    """An AppState of this test's own (its own Redis client), to call the archive package's functions directly."""
    client = redis_client.connect(redis_url)
    yield AppState(settings=make_settings(redis_url), redis=client, keys=Keys())
    await client.aclose()


def wait_replay(client: Any, name: str, state: str = "COMPLETED", timeout_s: float = 30.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        described: dict[str, Any] = client.describe_replay(ReplayName=name)
        return described if described["State"] == state else None

    found: dict[str, Any] = eventually_sync(done, timeout_s, what=f"replay {name} {state}")
    return found


def cli(redis_url: str, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`switchboard ARGS` as a subprocess against the test's Redis."""
    return run_cli(redis_url, *args, stdin=stdin, timeout=timeout, columns=100)


def replay_history_into_fresh(client: Any, replay: str, start_s: float, end_s: float) -> None:
    """Bus `fresh` whose rule `all` (source shop) feeds queue `replayed`, and replay `replay` of archive `history`
    (window `start_s` to `end_s`) into it."""
    client.create_event_bus(Name="fresh")
    client.put_rule(Name="all", EventBusName="fresh", EventPattern='{"source":["shop"]}')
    client.put_targets(Rule="all", EventBusName="fresh", Targets=[{"Id": "q", "Arn": queue_arn("replayed")}])
    client.start_replay(
        ReplayName=replay,
        EventSourceArn=f"arn:aws:events:{REGION}:{ACCOUNT}:archive/history",
        EventStartTime=start_s,
        EventEndTime=end_s,
        Destination={"Arn": bus_arn("fresh")},
    )
