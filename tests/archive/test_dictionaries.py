"""Compression dictionaries end to end (real uvicorn, real Redis, single and cluster): an archive that holds enough
events gets a dictionary trained on them, later events are stored with it (smaller), and every reader (replay,
export, the import's "stored once") gives back the envelopes byte for byte, old and new members alike; deleting the
archive deletes its dictionaries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from archive import ArchiveOptions, codec, extension
from archive.dictionaries import DICTIONARIES
from archive.keys import ArchiveKeys
from router.app import create_app
from router.keys import Keys
from tests.archive.conftest import (
    archived,
    bus_arn,
    cli,
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
FIRST = 30


@pytest.fixture
def server(redis_url: str) -> Iterator[ServerThread]:
    """A dictionary as soon as an archive holds 30 events, maintenance rounds every 0.1 s."""
    options = ArchiveOptions(
        replay_poll_interval_s=0.05,
        replay_lease_ms=3000,
        maintenance_interval_s=0.1,
        dictionary_min_events=FIRST,
        dictionary_samples=FIRST,
    )
    srv = ServerThread(create_app(make_settings(redis_url), extensions=[extension(options)]))
    srv.start()
    yield srv
    srv.stop()


def _details(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {"minute": n, "order": f"{n * 7919:08x}", "customer": {"id": n * 31, "tier": ["gold", "iron"][n % 2]}}
        for n in range(start, start + count)
    ]


def _put_minutes(client: Any, start: int, count: int) -> None:
    for detail in _details(start, count):
        put(client, "orders", [detail], Time=BASE + 60 * detail["minute"])


def test_later_events_use_the_trained_dictionary_and_read_back_exactly(events_client: Any, redis_url: str) -> None:
    client = events_client
    client.create_event_bus(Name="orders")
    client.create_archive(ArchiveName="history", EventSourceArn=bus_arn("orders"))
    _put_minutes(client, 0, FIRST)
    eventually_sync(lambda: client.describe_archive(ArchiveName="history")["EventCount"] == FIRST, what="30 events")
    sync = sync_client(redis_url)
    keys = ArchiveKeys(Keys())
    record = json.loads(sync.hget(keys.archives, "history"))
    storage = ("orders", "history", record["Generation"])
    eventually_sync(lambda: sync.hlen(keys.dicts(*storage)) == 1, what="the trained dictionary")
    eventually_sync(lambda: keys.events(*storage) in DICTIONARIES.current, what="the dictionary in use")
    _put_minutes(client, FIRST, FIRST)
    eventually_sync(lambda: client.describe_archive(ArchiveName="history")["EventCount"] == 2 * FIRST, what="60")

    members: Any = sync.zrange(keys.events(*storage), 0, -1)
    by_codec: dict[int, list[bytes]] = {}
    for member in members:
        by_codec.setdefault(member[codec.HEAD_BYTES - 1], []).append(member)
    later = [
        m
        for m in members
        if json.loads(codec.decode(m, _loaded(sync, keys, storage)).event)["detail"]["minute"] >= FIRST
    ]
    assert {m[codec.HEAD_BYTES - 1] for m in later} == {codec.CODEC_ZSTD_DICT}
    plain, with_dictionary = by_codec[codec.CODEC_ZSTD], by_codec[codec.CODEC_ZSTD_DICT]
    assert sum(map(len, with_dictionary)) / len(with_dictionary) < sum(map(len, plain)) / len(plain)

    events = [e.event for e in archived(redis_url, "history")]
    assert [json.loads(e)["detail"]["minute"] for e in events] == list(range(2 * FIRST))
    described = client.describe_archive(ArchiveName="history")
    assert described["SizeBytes"] == sum(len(e) for e in events)  # what the envelopes weigh, not what Redis spends

    exported = cli(redis_url, "archive", "export", "history")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.encode().splitlines() == events  # byte for byte, both codecs
    client.create_event_bus(Name="elsewhere")
    client.create_archive(ArchiveName="moved", EventSourceArn=bus_arn("elsewhere"))
    moved = json.loads(sync.hget(keys.archives, "moved"))
    moved_storage = ("elsewhere", "moved", moved["Generation"])
    imported = cli(redis_url, "archive", "import", "moved", "-", stdin=exported.stdout)
    assert "imported 60 new events" in imported.stderr, imported.stderr  # no dictionary yet: plain zstd
    eventually_sync(lambda: sync.hlen(keys.dicts(*moved_storage)) == 1, what="moved's dictionary")
    again = cli(redis_url, "archive", "import", "moved", "-", stdin=exported.stdout)
    assert "imported 0 new events" in again.stderr, again.stderr  # stored once, though now compressed otherwise
    assert [e.event for e in archived(redis_url, "moved")] == events

    replay_history_into_fresh(client, "both", BASE, BASE + 3600)
    wait_replay(client, "both")
    eventually_sync(lambda: len(queue_bodies(redis_url, "replayed")) == 2 * FIRST, what="the replayed events")
    assert queue_bodies(redis_url, "replayed") == [e[:-1] + b',"replay-name":"both"}' for e in events]

    client.delete_archive(ArchiveName="history")
    assert sync.exists(keys.events(*storage), keys.stats(*storage), keys.dicts(*storage)) == 0
    assert keys.events(*storage) not in DICTIONARIES.current


def _loaded(sync: Any, keys: ArchiveKeys, storage: tuple[str, str, str]) -> dict[int, codec.Dictionary]:
    found: Any = sync.hgetall(keys.dicts(*storage))
    return {int(i): codec.Dictionary(int(i), data) for i, data in found.items()}
