"""`switchboard archive ...` and `switchboard replay ...` with `--account`/`--region` (router.namespace_options), as
subprocesses against a real router and Redis (single and cluster): without them a command sees the home namespace
only, with them the namespace they name, and a replay started there runs in that namespace."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.archive.conftest import cli, put, wait_replay
from tests.router.conftest import ServerThread, boto3_client
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

BASE = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
OTHER = "111122223333"
WHERE = ("--account", OTHER, "--region", "us-west-1")


def test_archive_and_replay_commands_act_in_the_namespace_they_name(server: ServerThread, redis_url: str) -> None:
    west = boto3_client(server.url, region="us-west-1", access_key=OTHER)
    west.create_event_bus(Name="orders")
    source = f"arn:aws:events:us-west-1:{OTHER}:event-bus/orders"
    west.create_archive(ArchiveName="history", EventSourceArn=source)
    put(west, "orders", [{"minute": m} for m in range(3)], Time=BASE + 60)
    eventually_sync(lambda: west.describe_archive(ArchiveName="history")["EventCount"] == 3, what="three archived")

    home = cli(redis_url, "archive", "list")
    assert home.returncode == 0, home.stderr
    assert "history" not in home.stdout  # another namespace's archive is not the home namespace's
    there = cli(redis_url, "archive", "list", *WHERE)
    assert there.returncode == 0, there.stderr
    assert [line.split()[:4] for line in there.stdout.splitlines()[1:]] == [["history", "orders", "ENABLED", "3"]]
    exported = cli(redis_url, "archive", "export", "history", *WHERE)
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout.splitlines()) == 3
    assert cli(redis_url, "archive", "export", "history").returncode == 9  # no such archive at home

    window = ("--from", str(BASE), "--to", str(BASE + 3600))
    started = cli(
        redis_url, "replay", "start", "--archive", "history", *window, "--bus", "orders", "--name", "r1", *WHERE
    )
    assert started.returncode == 0, started.stderr
    described = wait_replay(west, "r1")
    assert described["ReplayArn"] == f"arn:aws:events:us-west-1:{OTHER}:replay/r1"
    assert described["Destination"]["Arn"] == source
    listed = cli(redis_url, "replay", "list", *WHERE)
    assert '"r1"' in listed.stdout
    assert '"r1"' not in cli(redis_url, "replay", "list").stdout
    assert cli(redis_url, "replay", "describe", "r1", "--account", OTHER).returncode == 9  # us-east-1 has none


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--account", "1234", "is not an account id"), ("--region", "west", "is not a region name")],
)
def test_a_namespace_option_that_names_none_is_refused(redis_url: str, option: str, value: str, message: str) -> None:
    refused = cli(redis_url, "archive", "list", option, value)
    assert refused.returncode == 2
    assert message in refused.stderr
