"""Archives and replays per (account, region) namespace (router.namespace), with real boto3 clients against a real
uvicorn and real Redis (single and cluster): the same archive and replay names in two regions and two accounts are
separate, each archives its own bus's events, a replay in another namespace replays that namespace's archive into
that namespace's bus, the keys left behind carry the namespace, and the limit of 10 active replays counts one
namespace's replays only."""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError

from archive.replay_api import start_replay
from router.keys import Keys
from router.namespace import Namespace, entered
from router.quotas import LIMIT_EXCEEDED_MESSAGE
from router.state import AppState
from tests.archive.conftest import put, queue_bodies, sync_client, wait_replay
from tests.router.conftest import ServerThread, boto3_client
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

HOME = "123456789012"
OTHER = "111122223333"
KEYS = Keys()
NAMESPACES = ((HOME, "us-east-1"), (HOME, "us-west-1"), (OTHER, "us-east-1"))


def _client(server: ServerThread, account: str, region: str) -> Any:
    return boto3_client(server.url, region=region, access_key="testing" if account == HOME else account)


def _label(account: str, region: str) -> str:
    return f"{account}-{region}"


def _count(client: Any, name: str) -> int:
    return int(client.describe_archive(ArchiveName=name)["EventCount"])


def _has_count(client: Any, count: int) -> bool:
    return _count(client, "history") == count


def _has_bodies(redis_url: str, queue: str, count: int) -> bool:
    return len(queue_bodies(redis_url, queue)) == count


def test_archives_and_replays_are_per_namespace(server: ServerThread, redis_url: str) -> None:
    clients = {where: _client(server, *where) for where in NAMESPACES}
    start = time.time() - 60
    for (account, region), client in clients.items():
        label = _label(account, region)
        client.create_event_bus(Name="shop")
        bus_arn = f"arn:aws:events:{region}:{account}:event-bus/shop"
        created = client.create_archive(ArchiveName="history", EventSourceArn=bus_arn)
        assert created["ArchiveArn"] == f"arn:aws:events:{region}:{account}:archive/history"
        client.put_rule(Name="replayed", EventBusName="shop", EventPattern='{"replay-name": [{"exists": true}]}')
        client.put_targets(
            Rule="replayed",
            EventBusName="shop",
            Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{region}:{account}:replayed-{label}"}],
        )
        entries = [{"Source": "app", "DetailType": "t", "Detail": json.dumps({"from": label}), "EventBusName": "shop"}]
        for _ in range(NAMESPACES.index((account, region)) + 1):  # 1, 2 and 3 events: each archive counts its own
            assert client.put_events(Entries=entries)["FailedEntryCount"] == 0
    for index, ((account, region), client) in enumerate(clients.items()):
        eventually_sync(partial(_has_count, client, index + 1), what=f"{account} {region} archive")
        listed = client.list_archives()["Archives"]
        assert [(a["ArchiveName"], a["EventSourceArn"]) for a in listed] == [
            ("history", f"arn:aws:events:{region}:{account}:event-bus/shop")
        ]

    for (account, region), client in clients.items():
        started = client.start_replay(
            ReplayName="again",
            EventSourceArn=f"arn:aws:events:{region}:{account}:archive/history",
            EventStartTime=start,
            EventEndTime=time.time() + 60,
            Destination={"Arn": f"arn:aws:events:{region}:{account}:event-bus/shop"},
        )
        assert started["ReplayArn"] == f"arn:aws:events:{region}:{account}:replay/again"
    for index, ((account, region), client) in enumerate(clients.items()):
        label = _label(account, region)
        done = wait_replay(client, "again")
        assert done["EventSourceArn"] == f"arn:aws:events:{region}:{account}:archive/history"
        assert [r["ReplayName"] for r in client.list_replays()["Replays"]] == ["again"]
        queue = KEYS.scoped(f"replayed-{label}", Namespace(account, region))  # that namespace's queue
        eventually_sync(partial(_has_bodies, redis_url, queue, index + 1), what=f"{label} replayed")
        bodies = [json.loads(body) for body in queue_bodies(redis_url, queue)]
        assert {(b["detail"]["from"], b["replay-name"], b["account"], b["region"]) for b in bodies} == {
            (label, "again", account, region)
        }

    # the keys left behind: the home namespace's bare names, the others' ACCOUNT@REGION@NAME
    client = sync_client(redis_url)
    try:
        assert {f.decode() for f in client.hkeys(f"{KEYS.prefix}:{{archives}}:archives")} == {
            "history",
            f"{HOME}@us-west-1@history",
            f"{OTHER}@us-east-1@history",
        }
        assert {f.decode() for f in client.hkeys(f"{KEYS.prefix}:{{archives}}:replays")} == {
            "again",
            f"{HOME}@us-west-1@again",
            f"{OTHER}@us-east-1@again",
        }
        west = KEYS.bus_tag(f"{HOME}@us-west-1@shop")
        assert client.exists(f"{west}:replay:again") == 1
        assert client.hexists(KEYS.rules(f"{HOME}@us-west-1@shop"), "Events-Archive-history")
        other = json.loads(client.hget(f"{KEYS.prefix}:{{archives}}:archives", f"{OTHER}@us-east-1@history"))
        assert other["EventBusName"] == "shop"  # records keep their format: the namespace is in their ARNs
        storage = f"{KEYS.bus_tag(f'{OTHER}@us-east-1@shop')}:archive:history:{other['Generation']}"
        assert client.zcard(f"{storage}:events") == 3
    finally:
        client.close()

    # deleting one namespace's archive leaves the others'
    clients[HOME, "us-west-1"].delete_archive(ArchiveName="history")
    assert clients[HOME, "us-west-1"].list_archives()["Archives"] == []
    assert _count(clients[HOME, "us-east-1"], "history") == 1
    assert _count(clients[OTHER, "us-east-1"], "history") == 3


async def test_ten_active_replays_in_one_namespace_leave_the_others_free(
    server: ServerThread, app_state: AppState
) -> None:
    clients = {where: _client(server, *where) for where in NAMESPACES}
    base = time.time() - 7200
    for (account, region), client in clients.items():
        client.create_event_bus(Name="shop")
        client.create_archive(ArchiveName="history", EventSourceArn=f"arn:aws:events:{region}:{account}:event-bus/shop")
        put(client, "shop", [{"minute": 0}], Time=base)
        put(client, "shop", [{"minute": 60}], Time=base + 3600)  # a paced replay waits ~forever for this one
    for client in clients.values():
        eventually_sync(partial(_has_count, client, 2), what="two archived events")

    def body(account: str, region: str, name: str) -> dict[str, Any]:
        return {
            "ReplayName": name,
            "EventSourceArn": f"arn:aws:events:{region}:{account}:archive/history",
            "EventStartTime": base,
            "EventEndTime": base + 7200,
            "Destination": {"Arn": f"arn:aws:events:{region}:{account}:event-bus/shop"},
        }

    full = (OTHER, "us-east-1")
    with entered(Namespace(*full)):  # ten paced replays stay active in the other account's namespace
        for n in range(10):
            await start_replay(app_state, body(*full, f"slow-{n}"), speed=1e-6)
    with pytest.raises(ClientError) as refused:
        clients[full].start_replay(**body(*full, "eleventh"))
    assert (refused.value.response["Error"]["Code"], refused.value.response["Error"]["Message"]) == (
        "LimitExceededException",
        LIMIT_EXCEEDED_MESSAGE,
    )
    for where in ((HOME, "us-east-1"), (HOME, "us-west-1")):  # another account, another region: still free
        started = clients[where].start_replay(**body(*where, "eleventh"))
        assert started["ReplayArn"] == f"arn:aws:events:{where[1]}:{where[0]}:replay/eleventh"
        wait_replay(clients[where], "eleventh")
    assert (
        len(clients[full].list_replays(State="RUNNING")["Replays"])
        + len(clients[full].list_replays(State="STARTING")["Replays"])
        == 10
    )
