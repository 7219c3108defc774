"""Archives end to end: boto3 against a real uvicorn and a real Redis (single and cluster).

The archive is a managed rule with an internal target: what it stores is exactly what its pattern matched, the
envelope exactly as targets saw it, and EventCount and SizeBytes are exact after each step."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from archive.keys import ArchiveKeys
from router.keys import Keys
from tests.archive.conftest import ACCOUNT, REGION, archived, bus_arn, put, queue_arn, queue_bodies, sync_client
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

PATTERN = json.dumps({"source": ["shop"], "detail": {"kind": ["paid"]}})


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def _describe(client: Any, name: str) -> dict[str, Any]:
    answer: dict[str, Any] = client.describe_archive(ArchiveName=name)
    return answer


def test_an_archive_stores_what_its_pattern_matches_as_targets_saw_it(events_client: Any, redis_url: str) -> None:
    client = events_client
    client.create_event_bus(Name="orders")
    created = client.create_archive(
        ArchiveName="paid", EventSourceArn=bus_arn("orders"), EventPattern=PATTERN, RetentionDays=7, Description="d"
    )
    assert created["ArchiveArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:archive/paid"
    assert created["State"] == "ENABLED"
    # the managed rule, as AWS shows it
    (rule,) = client.list_rules(EventBusName="orders")["Rules"]
    assert rule["Name"] == "Events-Archive-paid"
    assert rule["ManagedBy"] == "prod.vhs.events.aws.internal"
    assert json.loads(rule["EventPattern"]) == {**json.loads(PATTERN), "replay-name": [{"exists": False}]}
    # a user's rule with a queue target sees the same events
    client.put_rule(Name="copy", EventBusName="orders", EventPattern=PATTERN)
    client.put_targets(Rule="copy", EventBusName="orders", Targets=[{"Id": "q", "Arn": queue_arn("seen")}])
    described = _describe(client, "paid")
    assert (described["EventCount"], described["SizeBytes"]) == (0, 0)

    kinds = ["paid", "refunded", "paid", "paid", "other"]
    put(client, "orders", [{"kind": kind, "n": n} for n, kind in enumerate(kinds)])
    eventually_sync(lambda: len(queue_bodies(redis_url, "seen")) == 3, what="the copies")
    seen = queue_bodies(redis_url, "seen")
    eventually_sync(lambda: _describe(client, "paid")["EventCount"] == 3, what="three archived events")
    stored = archived(redis_url, "paid")
    assert sorted(e.event for e in stored) == sorted(seen)
    described = _describe(client, "paid")
    assert described["SizeBytes"] == sum(len(body) for body in seen)
    assert described["EventSourceArn"] == bus_arn("orders")
    assert described["EventPattern"] == PATTERN
    assert (described["RetentionDays"], described["Description"], described["State"]) == (7, "d", "ENABLED")
    listed = client.list_archives()["Archives"]
    assert [(a["ArchiveName"], a["EventCount"], a["State"]) for a in listed] == [("paid", 3, "ENABLED")]


def test_archive_errors_have_aws_codes_and_messages(events_client: Any) -> None:
    client = events_client
    client.create_event_bus(Name="orders")
    assert _error(client.describe_archive, ArchiveName="nope") == (
        "ResourceNotFoundException",
        "Archive nope does not exist.",
    )
    assert _error(client.create_archive, ArchiveName="a", EventSourceArn=bus_arn("missing")) == (
        "ResourceNotFoundException",
        "Event bus missing does not exist.",
    )
    client.create_archive(ArchiveName="a", EventSourceArn=bus_arn("orders"))
    assert _error(client.create_archive, ArchiveName="a", EventSourceArn=bus_arn("orders")) == (
        "ResourceAlreadyExistsException",
        "Archive a already exists.",
    )
    code, message = _error(
        client.create_archive, ArchiveName="b", EventSourceArn=bus_arn("orders"), EventPattern='{"source": "x"}'
    )
    assert code == "InvalidEventPatternException"
    assert message.startswith('Event pattern is not valid. Reason: "source" must be an object or an array')
    assert _error(client.list_archives, NamePrefix="a", State="ENABLED") == (
        "ValidationException",
        "At most one filter is allowed for ListArchives. Use either : State, EventSourceArn, or NamePrefix.",
    )
    assert _error(client.update_archive, ArchiveName="nope", Description="x") == (
        "ResourceNotFoundException",
        "Archive nope does not exist.",
    )
    assert _error(client.delete_archive, ArchiveName="nope") == (
        "ResourceNotFoundException",
        "Archive nope does not exist.",
    )


def test_the_managed_rule_cannot_be_changed_by_users(events_client: Any) -> None:
    client = events_client
    client.create_event_bus(Name="orders")
    client.create_archive(ArchiveName="a", EventSourceArn=bus_arn("orders"))
    rule = "Events-Archive-a"
    changed_by = f"{rule} is a managed rule. It can only be changed by prod.vhs.events.aws.internal."
    force = f"{rule} is a managed rule. Set 'force' parameter to true to override."
    assert _error(client.put_rule, Name=rule, EventBusName="orders", EventPattern='{"source": ["x"]}') == (
        "ManagedRuleException",
        changed_by,
    )
    assert _error(client.disable_rule, Name=rule, EventBusName="orders") == ("ManagedRuleException", changed_by)
    target = {"Id": "t", "Arn": queue_arn("q")}
    assert _error(client.put_targets, Rule=rule, EventBusName="orders", Targets=[target]) == (
        "ManagedRuleException",
        changed_by,
    )
    assert _error(client.remove_targets, Rule=rule, EventBusName="orders", Ids=[rule]) == (
        "ManagedRuleException",
        force,
    )
    assert _error(client.delete_rule, Name=rule, EventBusName="orders") == ("ManagedRuleException", force)
    # the bus cannot go while the archive's rule is on it (AWS: all rules must be deleted first)
    assert _error(client.delete_event_bus, Name="orders") == (
        "ValidationException",
        "EventBus can't be deleted since it has rules.",
    )
    # deleting the rule with Force stops archiving: the archive shows DISABLED
    client.delete_rule(Name=rule, EventBusName="orders", Force=True)
    described = _describe(client, "a")
    assert described["State"] == "DISABLED"
    assert described["StateReason"] == "The managed rule Events-Archive-a was deleted: the archive receives no events."
    assert [a["State"] for a in client.list_archives(State="DISABLED")["Archives"]] == ["DISABLED"]


def test_update_changes_the_managed_rule_and_delete_removes_everything(events_client: Any, redis_url: str) -> None:
    client = events_client
    client.create_event_bus(Name="orders")
    client.create_archive(ArchiveName="a", EventSourceArn=bus_arn("orders"), EventPattern=PATTERN)
    updated = client.update_archive(ArchiveName="a", EventPattern='{"source": ["other"]}', RetentionDays=3)
    assert updated["State"] == "ENABLED"
    rule = client.describe_rule(Name="Events-Archive-a", EventBusName="orders")
    assert json.loads(rule["EventPattern"]) == {"source": ["other"], "replay-name": [{"exists": False}]}
    described = _describe(client, "a")
    assert (described["RetentionDays"], described["EventPattern"]) == (3, '{"source": ["other"]}')
    put(client, "orders", [{"n": 1}], Source="other")
    eventually_sync(lambda: _describe(client, "a")["EventCount"] == 1, what="one archived event")

    client.delete_archive(ArchiveName="a")
    assert client.list_rules(EventBusName="orders")["Rules"] == []
    assert client.list_archives()["Archives"] == []
    redis = sync_client(redis_url)
    keys = ArchiveKeys(Keys())
    left: Any = redis.keys(f"{Keys().bus_tag('orders')}:archive:*".replace("{", "\\{").replace("}", "\\}"))
    assert left == []
    assert redis.hlen(keys.archives) == 0
    assert redis.hlen(keys.tombstones) == 1  # swept again later (a batch staged before the delete may still land)
    client.delete_event_bus(Name="orders")


def test_list_archives_filters_and_pages(events_client: Any) -> None:
    client = events_client
    for bus in ("a-bus", "b-bus"):
        client.create_event_bus(Name=bus)
    for n in range(5):
        client.create_archive(ArchiveName=f"arch-{n}", EventSourceArn=bus_arn("a-bus" if n % 2 else "b-bus"))
    by_bus = client.list_archives(EventSourceArn=bus_arn("a-bus"))["Archives"]
    assert [a["ArchiveName"] for a in by_bus] == ["arch-1", "arch-3"]
    assert [a["ArchiveName"] for a in client.list_archives(NamePrefix="arch-4")["Archives"]] == ["arch-4"]
    names: list[str] = []
    token: dict[str, str] = {}
    for _ in range(5):
        page = client.list_archives(Limit=2, **token)
        names += [a["ArchiveName"] for a in page["Archives"]]
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert names == [f"arch-{n}" for n in range(5)]
    assert client.list_archives(State="CREATING")["Archives"] == []


async def test_a_straggler_batch_after_delete_is_swept_and_a_new_archive_is_untouched(
    events_client: Any, redis_client: Any
) -> None:
    from archive.store import TOMBSTONE_GRACE_MS, ArchiveStore
    from router.arns import Arns
    from router.store import RedisRuleStore

    client = events_client
    client.create_event_bus(Name="orders")
    client.create_archive(ArchiveName="a", EventSourceArn=bus_arn("orders"))
    keys = ArchiveKeys(Keys())
    old = json.loads(await redis_client.hget(keys.archives, "a"))
    client.delete_archive(ArchiveName="a")
    # a batch staged before the delete commits now, into the old generation's keys
    await redis_client.zadd(keys.events("orders", "a", old["Generation"]), {b"late": 0})
    await redis_client.hincrby(keys.stats("orders", "a", old["Generation"]), "bytes", 4)
    client.create_archive(ArchiveName="a", EventSourceArn=bus_arn("orders"))
    new = json.loads(await redis_client.hget(keys.archives, "a"))
    assert new["Generation"] != old["Generation"]
    await redis_client.zadd(keys.events("orders", "a", new["Generation"]), {b"kept": 0})
    store = ArchiveStore(redis_client, keys, RedisRuleStore(redis_client, Keys()), Arns(REGION, ACCOUNT))
    assert await store.sweep_tombstones() == 0  # within the grace period
    deleted_ms = int((await redis_client.hgetall(keys.tombstones)).popitem()[1])
    assert await store.sweep_tombstones(now_ms=deleted_ms + TOMBSTONE_GRACE_MS) == 1
    assert await redis_client.exists(keys.events("orders", "a", old["Generation"])) == 0
    assert await redis_client.exists(keys.stats("orders", "a", old["Generation"])) == 0
    assert await redis_client.zcard(keys.events("orders", "a", new["Generation"])) == 1
    assert await redis_client.hlen(keys.tombstones) == 0


def test_retention_trims_expired_events_and_keeps_the_numbers_exact(events_client: Any, redis_url: str) -> None:
    import time

    client = events_client
    client.create_event_bus(Name="orders")
    client.create_archive(ArchiveName="a", EventSourceArn=bus_arn("orders"))  # RetentionDays 0: forever
    now = time.time()
    ages_h = [80, 50, 30, 2, 0]
    for n, age in enumerate(ages_h):
        put(client, "orders", [{"n": n}], Time=now - age * 3600)
    eventually_sync(lambda: _describe(client, "a")["EventCount"] == 5, what="five archived events")
    sizes = {json.loads(e.event)["detail"]["n"]: e.size for e in archived(redis_url, "a")}
    assert _describe(client, "a")["SizeBytes"] == sum(sizes.values())
    client.update_archive(ArchiveName="a", RetentionDays=2)  # the maintenance round (every 0.2 s here) trims
    eventually_sync(lambda: _describe(client, "a")["EventCount"] == 3, what="events older than 2 days trimmed")
    assert _describe(client, "a")["SizeBytes"] == sizes[2] + sizes[3] + sizes[4]
    assert sorted(json.loads(e.event)["detail"]["n"] for e in archived(redis_url, "a")) == [2, 3, 4]
    client.update_archive(ArchiveName="a", RetentionDays=1)
    eventually_sync(lambda: _describe(client, "a")["EventCount"] == 2, what="events older than a day trimmed")
    assert _describe(client, "a")["SizeBytes"] == sizes[3] + sizes[4]
