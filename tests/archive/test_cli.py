"""`switchboard archive ...` and `switchboard replay ...` as subprocesses, against a real router and Redis:
export a window as JSON lines, import it into another deployment's archive, replay it with `--wait`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.archive.conftest import archived, bus_arn, cli, put, queue_arn, queue_bodies
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

BASE = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def _count(client: Any, name: str) -> int:
    count: int = client.describe_archive(ArchiveName=name)["EventCount"]
    return count


def test_export_import_and_replay_from_the_command_line(events_client: Any, redis_url: str, tmp_path: Path) -> None:
    client = events_client
    client.create_event_bus(Name="orders")
    client.create_archive(ArchiveName="history", EventSourceArn=bus_arn("orders"), RetentionDays=0)
    for minute in range(6):
        put(client, "orders", [{"minute": minute}], Time=BASE + 60 * minute)
    eventually_sync(lambda: _count(client, "history") == 6, what="six archived events")

    listed = cli(redis_url, "archive", "list")
    assert listed.returncode == 0, listed.stderr
    (row,) = [line.split() for line in listed.stdout.splitlines() if line.startswith("history")]
    assert row == [
        "history",
        "orders",
        "ENABLED",
        "6",
        str(client.describe_archive(ArchiveName="history")["SizeBytes"]),
        "forever",
    ]

    exported = cli(redis_url, "archive", "export", "history", "--from", "2024-03-01T12:01:00Z", "--to", str(BASE + 240))
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert [json.loads(line)["detail"]["minute"] for line in lines] == [1, 2, 3, 4]
    stored = {e.event.decode() for e in archived(redis_url, "history")}
    assert set(lines) <= stored  # byte for byte as archived
    file = tmp_path / "window.jsonl"
    file.write_text(exported.stdout + "not json\n")

    client.create_event_bus(Name="elsewhere")
    client.create_archive(ArchiveName="moved", EventSourceArn=bus_arn("elsewhere"))
    imported = cli(redis_url, "archive", "import", "moved", str(file))
    assert imported.returncode == 2
    assert "line 5: not JSON" in imported.stderr
    assert "imported 4 new events" in imported.stderr
    again = cli(redis_url, "archive", "import", "moved", "-", stdin=exported.stdout)
    assert again.returncode == 0, again.stderr
    assert "imported 0 new events" in again.stderr  # the same envelopes are stored once
    moved = client.describe_archive(ArchiveName="moved")
    assert (moved["EventCount"], moved["SizeBytes"]) == (4, sum(len(line.encode()) for line in lines))

    client.create_event_bus(Name="fresh")
    client.put_rule(Name="all", EventBusName="fresh", EventPattern='{"source":["shop"]}')
    client.put_targets(Rule="all", EventBusName="fresh", Targets=[{"Id": "q", "Arn": queue_arn("fresh")}])
    replayed = cli(
        redis_url,
        "replay",
        "start",
        "--archive",
        "moved",
        "--from",
        str(BASE),
        "--to",
        str(BASE + 3600),
        "--bus",
        "fresh",
        "--name",
        "cli",
        "--wait",
        "--poll",
        "0.05",
    )
    assert replayed.returncode == 0, replayed.stderr
    assert "replay cli: COMPLETED: 4 of 4 events appended" in replayed.stdout
    eventually_sync(lambda: len(queue_bodies(redis_url, "fresh")) == 4, what="the replayed events")
    assert [json.loads(b)["detail"]["minute"] for b in queue_bodies(redis_url, "fresh")] == [1, 2, 3, 4]

    described = cli(redis_url, "replay", "describe", "cli")
    assert json.loads(described.stdout)["State"] == "COMPLETED"
    assert [r["ReplayName"] for r in json.loads(cli(redis_url, "replay", "list").stdout)["Replays"]] == ["cli"]
    cancelled = cli(redis_url, "replay", "cancel", "cli")
    assert cancelled.returncode == 2
    assert "IllegalStatusException: Replay cli is not in a valid state for this operation." in cancelled.stderr
    missing = cli(redis_url, "archive", "export", "nope")
    assert (missing.returncode, missing.stderr.strip()) == (
        9,
        "switchboard: ResourceNotFoundException: Archive nope does not exist.",
    )
