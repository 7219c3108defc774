"""Applying config through the API operations against a real redis-server: create, converge, stay idempotent, and
remove only what config created.

`Redis` state is compared with DUMP of every key (but the ingest streams, which the running worker owns), so "applying
twice changes nothing" means byte-identical.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from router import api as router_api
from router.config import ConfigApplyError, apply, load_dir, load_text
from router.errors import InternalException
from router.keys import Keys
from router.namespace import Namespace
from router.protocol import Dispatcher
from tests.router.conftest import Api

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OWNED = "sb:{meta}:config-owned"

BASE = """
functions:
  process: http://127.0.0.1:9/process
buses:
  - name: orders
    description: Orders
rules:
  - name: placed
    bus: orders
    description: New orders
    pattern: {source: [shop.orders], detail-type: [OrderPlaced]}
    targets:
      - Id: queue
        Arn: arn:aws:sqs:us-east-1:123456789012:order-events
        RetryPolicy: {MaximumRetryAttempts: 3}
      - Id: fn
        Arn: arn:aws:lambda:us-east-1:123456789012:function:process
        InputPath: $.detail
  - name: audit
    pattern: '{"source": [{"prefix": "shop."}]}'
    state: DISABLED
"""
BASE_OWNED = frozenset(
    {"bus:orders", "rule:orders:placed", "target:orders:placed:queue", "target:orders:placed:fn", "rule:default:audit"}
)
"""The config-owned members applying BASE leaves (router.config.model)."""


def api_handlers() -> dict[str, Any]:
    return dict(router_api.discover())


def dispatcher(api: Api) -> Dispatcher:
    d: Dispatcher = api.app.state.dispatcher
    return d


async def snapshot(client: aioredis.Redis) -> dict[bytes, bytes | None]:
    """DUMP of every key but the ingest streams, whose consumer-group state the fixture's running ingest worker
    changes on its own (it picks up a new bus's stream whenever it polls); config never writes them."""
    keys = sorted([key async for key in client.scan_iter() if not key.endswith(b":ingest")])
    return {key: await client.dump(key) for key in keys}


async def owned(client: aioredis.Redis) -> set[str]:
    members = await client.smembers(OWNED)
    return {m.decode() if isinstance(m, bytes) else m for m in members}


async def targets_of(api: Api, rule: str, bus: str = "default") -> list[dict[str, Any]]:
    answer = await api.ok("ListTargetsByRule", {"Rule": rule, "EventBusName": bus})
    return sorted(answer["Targets"], key=lambda t: str(t["Id"]))


async def test_apply_creates_everything_through_the_api(api: Api, redis_client: aioredis.Redis) -> None:
    report = await apply(load_text("base.yaml", BASE), dispatcher(api))
    assert report.created == (
        "bus orders",
        "rule orders/placed",
        "target orders/placed/queue",
        "target orders/placed/fn",
        "rule default/audit",
    )
    assert (report.updated, report.deleted, report.unchanged, report.warnings) == ((), (), (), ())
    bus = await api.ok("DescribeEventBus", {"Name": "orders"})
    assert bus["Description"] == "Orders"
    placed = await api.ok("DescribeRule", {"Name": "placed", "EventBusName": "orders"})
    assert placed["EventPattern"] == '{"source":["shop.orders"],"detail-type":["OrderPlaced"]}'
    assert (placed["State"], placed["Description"]) == ("ENABLED", "New orders")
    audit = await api.ok("DescribeRule", {"Name": "audit"})
    assert (audit["EventPattern"], audit["State"]) == ('{"source": [{"prefix": "shop."}]}', "DISABLED")
    assert await targets_of(api, "placed", "orders") == [
        {"Id": "fn", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:process", "InputPath": "$.detail"},
        {
            "Id": "queue",
            "Arn": "arn:aws:sqs:us-east-1:123456789012:order-events",
            "RetryPolicy": {"MaximumRetryAttempts": 3},
        },
    ]
    assert await owned(redis_client) == BASE_OWNED


async def test_applying_twice_writes_nothing(api: Api, redis_client: aioredis.Redis) -> None:
    config = load_text("base.yaml", BASE)
    await apply(config, dispatcher(api))
    before = await snapshot(redis_client)
    assert b"sb:{b:46}:bus:orders:version" in before
    report = await apply(config, dispatcher(api))
    assert not report.changed
    assert len(report.unchanged) == 5
    assert await snapshot(redis_client) == before


async def test_changes_are_applied_and_only_they(api: Api, redis_client: aioredis.Redis) -> None:
    await apply(load_text("base.yaml", BASE), dispatcher(api))
    changed = BASE.replace("description: New orders", "description: Orders, new").replace(
        "MaximumRetryAttempts: 3", "MaximumRetryAttempts: 5"
    )
    audit_before = await redis_client.dump("sb:{b:31}:bus:default:version")
    report = await apply(load_text("base.yaml", changed), dispatcher(api))
    assert report.updated == ("rule orders/placed", "target orders/placed/queue")
    assert report.unchanged == ("bus orders", "target orders/placed/fn", "rule default/audit")
    assert (await api.ok("DescribeRule", {"Name": "placed", "EventBusName": "orders"}))["Description"] == "Orders, new"
    queue = next(t for t in await targets_of(api, "placed", "orders") if t["Id"] == "queue")
    assert queue["RetryPolicy"] == {"MaximumRetryAttempts": 5}
    assert await redis_client.dump("sb:{b:31}:bus:default:version") == audit_before


async def test_dropped_resources_are_removed_but_api_ones_are_kept(api: Api, redis_client: aioredis.Redis) -> None:
    await apply(load_text("base.yaml", BASE), dispatcher(api))
    # Made over the API: a bus with a rule, a rule on the config's bus, a target on a config rule.
    await api.ok("CreateEventBus", {"Name": "billing"})
    await api.ok("PutRule", {"Name": "mine", "EventBusName": "billing", "EventPattern": '{"source":["b"]}'})
    await api.ok("PutRule", {"Name": "hand-made", "EventBusName": "orders", "EventPattern": '{"source":["x"]}'})
    extra = {"Id": "extra", "Arn": "arn:aws:sqs:us-east-1:123456789012:extra"}
    await api.ok("PutTargets", {"Rule": "audit", "Targets": [extra]})

    only_audit = 'rules:\n  - name: audit\n    pattern: \'{"source": [{"prefix": "shop."}]}\'\n    state: DISABLED\n'
    report = await apply(load_text("base.yaml", only_audit), dispatcher(api))
    assert report.deleted == (
        "target orders/placed/fn",
        "target orders/placed/queue",
        "rule orders/placed",
    )
    assert report.warnings == ("bus orders kept: it has rules the config did not create (hand-made)",)
    assert report.unchanged == ("rule default/audit",)
    _, code, _ = await api.error("DescribeRule", {"Name": "placed", "EventBusName": "orders"})
    assert code == "ResourceNotFoundException"
    assert (await api.ok("DescribeRule", {"Name": "hand-made", "EventBusName": "orders"}))["Name"] == "hand-made"
    assert (await api.ok("DescribeRule", {"Name": "mine", "EventBusName": "billing"}))["Name"] == "mine"
    assert await targets_of(api, "audit") == [extra]
    assert await owned(redis_client) == {"bus:orders", "rule:default:audit"}

    # Once the API-made rule is gone, the next apply removes the config's bus too.
    await api.ok("DeleteRule", {"Name": "hand-made", "EventBusName": "orders"})
    report = await apply(load_text("base.yaml", "rules: []\n"), dispatcher(api))
    assert report.warnings == ("rule default/audit kept: it has targets created over the API (extra)",)
    assert report.deleted == ("bus orders",)
    _, code, _ = await api.error("DescribeEventBus", {"Name": "orders"})
    assert code == "ResourceNotFoundException"
    assert await targets_of(api, "audit") == [extra]
    assert await owned(redis_client) == {"rule:default:audit"}


async def test_existing_api_resources_are_updated_but_not_taken_over(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("CreateEventBus", {"Name": "orders", "Description": "Orders"})
    await api.ok("PutRule", {"Name": "audit", "EventPattern": '{"source":["old"]}'})
    report = await apply(load_text("base.yaml", BASE), dispatcher(api))
    assert report.updated == ("rule default/audit",)
    assert report.unchanged[0] == "bus orders"
    assert (await api.ok("DescribeRule", {"Name": "audit"}))["EventPattern"] == '{"source": [{"prefix": "shop."}]}'
    assert await owned(redis_client) == {"rule:orders:placed", "target:orders:placed:queue", "target:orders:placed:fn"}
    report = await apply(load_text("empty.yaml", ""), dispatcher(api))
    assert (await api.ok("DescribeEventBus", {"Name": "orders"}))["Name"] == "orders"
    assert (await api.ok("DescribeRule", {"Name": "audit"}))["Name"] == "audit"
    assert await owned(redis_client) == set()


async def test_resources_deleted_over_the_api_are_recreated(api: Api, redis_client: aioredis.Redis) -> None:
    config = load_text("base.yaml", BASE)
    await apply(config, dispatcher(api))
    await api.ok("RemoveTargets", {"Rule": "placed", "EventBusName": "orders", "Ids": ["fn"]})
    report = await apply(config, dispatcher(api))
    assert report.created == ("target orders/placed/fn",)
    assert [t["Id"] for t in await targets_of(api, "placed", "orders")] == ["fn", "queue"]


async def test_what_the_stored_state_refuses_is_refused_before_any_write(
    api: Api, redis_client: aioredis.Redis
) -> None:
    """Targets created over the API, which config keeps, count toward the 5: checked before anything is written."""
    await api.ok("PutRule", {"Name": "audit", "EventPattern": '{"source": ["a"]}'})
    queues = [{"Id": f"api-{i}", "Arn": f"arn:aws:sqs:us-east-1:123456789012:q{i}"} for i in range(4)]
    await api.ok("PutTargets", {"Rule": "audit", "Targets": queues})
    text = BASE + "    targets:\n      - {Id: a, Arn: 'arn:aws:sqs:us-east-1:123456789012:a'}\n"
    text += "      - {Id: b, Arn: 'arn:aws:sqs:us-east-1:123456789012:b'}\n"
    before = await snapshot(redis_client)
    with pytest.raises(ConfigApplyError) as info:
        await apply(load_text("x.yaml", text), dispatcher(api))
    assert info.value.lines() == [
        "x.yaml: rules[1].targets: the rule would have 6 targets: 2 declared here and 4 created over the API "
        "(api-0, api-1, api-2, api-3), which config keeps; a rule can have at most 5",
        "nothing was applied: fix the problems above and start again",
    ]
    assert await snapshot(redis_client) == before


async def test_a_failure_part_way_reports_exactly_what_was_applied(api: Api, redis_client: aioredis.Redis) -> None:
    """An operation failing after the check (a Redis fault, a concurrent change) stops the apply where it is."""
    d = dispatcher(api)

    async def unavailable(state: Any, body: dict[str, Any]) -> dict[str, Any]:
        raise InternalException("Storage is unavailable.")

    d.handlers["PutTargets"] = unavailable
    with pytest.raises(ConfigApplyError) as info:
        await apply(load_text("base.yaml", BASE), d)
    assert info.value.lines() == [
        "base.yaml: rules[0]: PutTargets failed: InternalException: Storage is unavailable.",
        "applied before the failure: created bus orders, rule orders/placed",
        "nothing was rolled back: fix the problem and start again; applying resumes from there",
    ]
    assert info.value.applied is not None
    assert info.value.applied.created == ("bus orders", "rule orders/placed")
    assert await owned(redis_client) == {"bus:orders", "rule:orders:placed"}
    del d.handlers["PutTargets"]
    d.handlers.update(api_handlers())
    report = await apply(load_text("base.yaml", BASE), d)  # resumes
    assert report.created == ("target orders/placed/queue", "target orders/placed/fn", "rule default/audit")


async def test_shipped_example_applies_and_reapplies_cleanly(
    api: Api, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    shutil.copytree(REPO / "config", tmp_path / "config")
    config = load_dir(tmp_path / "config")
    report = await apply(config, dispatcher(api))
    assert len(report.created) == 1 + 3 + 3
    rules = await api.ok("ListRules", {"EventBusName": "orders"})
    assert sorted(r["Name"] for r in rules["Rules"]) == ["large-order", "order-placed", "payment-failed"]
    before = await snapshot(redis_client)
    assert not (await apply(load_dir(tmp_path / "config"), dispatcher(api))).changed
    assert await snapshot(redis_client) == before


async def test_bus_description_change_is_applied_with_update_event_bus(api: Api, redis_client: aioredis.Redis) -> None:
    """A changed description is applied with UpdateEventBus (router/api/buses.py), and re-applying changes nothing."""
    await apply(load_text("base.yaml", BASE), dispatcher(api))
    changed = BASE.replace("description: Orders", "description: Shop")
    report = await apply(load_text("base.yaml", changed), dispatcher(api))
    assert report.updated == ("bus orders",)
    assert report.warnings == ()
    assert (await api.ok("DescribeEventBus", {"Name": "orders"}))["Description"] == "Shop"
    before = await snapshot(redis_client)
    assert not (await apply(load_text("base.yaml", changed), dispatcher(api))).changed
    assert await snapshot(redis_client) == before


async def test_minimal_declarations_are_idempotent_too(api: Api, redis_client: aioredis.Redis) -> None:
    """No descriptions, no state, no targets: what the API stores for "unset" must compare equal to the file."""
    text = "buses: [{name: bare}]\nrules:\n  - {name: r, bus: bare, pattern: {detail: {city: [Zürich]}}}\n"
    config = load_text("bare.yaml", text)
    assert (await apply(config, dispatcher(api))).created == ("bus bare", "rule bare/r")
    before = await snapshot(redis_client)
    report = await apply(config, dispatcher(api))
    assert (report.changed, report.unchanged) == (False, ("bus bare", "rule bare/r"))
    assert await snapshot(redis_client) == before
    rule = await api.ok("DescribeRule", {"Name": "r", "EventBusName": "bare"})
    assert rule["EventPattern"] == '{"detail":{"city":["Zürich"]}}'


SCHEDULED = """
rules:
  - name: tick
    schedule: rate(5 minutes)
    targets:
      - Id: q
        Arn: arn:aws:sqs:us-east-1:123456789012:ticks
  - name: noon
    schedule: cron(0 12 * * ? *)
    pattern: {source: [shop.orders]}
"""


async def test_scheduled_rules_are_applied_with_their_timers_kept_and_removed(
    api: Api, redis_client: aioredis.Redis
) -> None:
    report = await apply(load_text("scheduled.yaml", SCHEDULED), dispatcher(api))
    assert report.created == ("rule default/tick", "target default/tick/q", "rule default/noon")
    tick = await api.ok("DescribeRule", {"Name": "tick"})
    assert tick["ScheduleExpression"] == "rate(5 minutes)"
    assert "EventPattern" not in tick
    noon = await api.ok("DescribeRule", {"Name": "noon"})
    assert (noon["ScheduleExpression"], noon["EventPattern"]) == ("cron(0 12 * * ? *)", '{"source":["shop.orders"]}')
    timers = Keys().timers("bus:default")
    due = {name: await redis_client.zscore(timers, name) for name in ("tick", "noon")}
    assert all(score is not None for score in due.values()), due

    again = await apply(load_text("scheduled.yaml", SCHEDULED), dispatcher(api))
    assert not again.changed
    assert {name: await redis_client.zscore(timers, name) for name in ("tick", "noon")} == due  # the same grid

    dropped = await apply(load_text("scheduled.yaml", "rules: []\n"), dispatcher(api))
    assert set(dropped.deleted) == {"target default/tick/q", "rule default/tick", "rule default/noon"}
    assert await redis_client.zscore(timers, "tick") is None
    assert await redis_client.zscore(timers, "noon") is None


# -- accounts and regions: a file's namespace ---------------------------------------------------------------------

WEST_NS = Namespace("111122223333", "us-west-1")
WEST = "account: '111122223333'\nregion: us-west-1\n"
W = "111122223333@us-west-1@"
"""The key-layout prefix of WEST_NS's resources (router.keys `Keys.scoped`)."""


def signed_for(namespace: Namespace) -> dict[str, str]:
    """The header a client signing for `namespace` sends (the account as a 12-digit access key id)."""
    credential = f"{namespace.account_id}/20261202/{namespace.region}/events/aws4_request"
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=0"}


async def ok_in(api: Api, namespace: Namespace, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.raw(operation, orjson.dumps(body), signed_for(namespace))
    assert response.status_code == 200, response.text
    return orjson.loads(response.content) if response.content else {}


async def error_in(api: Api, namespace: Namespace, operation: str, body: dict[str, Any]) -> str:
    response = await api.raw(operation, orjson.dumps(body), signed_for(namespace))
    assert response.status_code == 400, response.text
    code: str = orjson.loads(response.content)["__type"]
    return code


def two_namespaces(tmp_path: Path, west: str = BASE) -> Path:
    (tmp_path / "home.yaml").write_text(BASE)
    (tmp_path / "west.yaml").write_text(WEST + west + "archives:\n  - name: all\n    bus: orders\n")
    return tmp_path


async def test_a_file_naming_an_account_and_region_applies_there(
    api: Api, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    report = await apply(load_dir(two_namespaces(tmp_path)), dispatcher(api))
    west = [label for label in report.created if label.endswith(" in 111122223333/us-west-1")]
    assert report.created == (
        "bus orders",
        "bus orders in 111122223333/us-west-1",
        "rule orders/placed",
        "target orders/placed/queue",
        "target orders/placed/fn",
        "rule default/audit",
        "rule orders/placed in 111122223333/us-west-1",
        "target orders/placed/queue in 111122223333/us-west-1",
        "target orders/placed/fn in 111122223333/us-west-1",
        "rule default/audit in 111122223333/us-west-1",
        "archive all in 111122223333/us-west-1",
    )
    assert len(west) == 6
    west_members = {f"{kind}:{W}{rest}" for kind, _, rest in (m.partition(":") for m in BASE_OWNED)}
    assert await owned(redis_client) == BASE_OWNED | west_members | {f"archive:{W}all"}

    # What a client of that account and region sees: its own ARNs; the home's client sees the home's alone.
    placed = await ok_in(api, WEST_NS, "DescribeRule", {"Name": "placed", "EventBusName": "orders"})
    assert placed["Arn"] == "arn:aws:events:us-west-1:111122223333:rule/orders/placed"
    archive = await ok_in(api, WEST_NS, "DescribeArchive", {"ArchiveName": "all"})
    assert archive["EventSourceArn"] == "arn:aws:events:us-west-1:111122223333:event-bus/orders"
    assert (await api.ok("DescribeRule", {"Name": "placed", "EventBusName": "orders"}))["Arn"] == (
        "arn:aws:events:us-east-1:123456789012:rule/orders/placed"
    )
    _, code, _ = await api.error("DescribeArchive", {"ArchiveName": "all"})
    assert code == "ResourceNotFoundException"
    assert await redis_client.hexists("sb:{meta}:buses", f"{W}orders")

    # Idempotent in every namespace: the second apply writes nothing.
    before = await snapshot(redis_client)
    again = await apply(load_dir(tmp_path), dispatcher(api))
    assert not again.changed
    assert await snapshot(redis_client) == before


async def test_pruning_one_namespace_never_touches_another(
    api: Api, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    other = Namespace("444455556666", "us-east-1")
    # Made over the API with the config's names: in a third namespace, and a rule on the west config bus.
    await ok_in(api, other, "CreateEventBus", {"Name": "orders"})
    await ok_in(api, other, "PutRule", {"Name": "placed", "EventBusName": "orders", "EventPattern": '{"source":["x"]}'})
    await apply(load_dir(two_namespaces(tmp_path)), dispatcher(api))
    await ok_in(api, WEST_NS, "PutRule", {"Name": "hand-made", "EventBusName": "orders", "EventPattern": '{"a":[1]}'})

    # The west file goes: its resources go, in its namespace only (the home's same names stay, and so does the
    # rule made over the API there, which keeps the west bus).
    (tmp_path / "west.yaml").unlink()
    report = await apply(load_dir(tmp_path), dispatcher(api))
    assert report.deleted == (
        "archive all in 111122223333/us-west-1",
        "rule default/audit in 111122223333/us-west-1",
        "target orders/placed/fn in 111122223333/us-west-1",
        "target orders/placed/queue in 111122223333/us-west-1",
        "rule orders/placed in 111122223333/us-west-1",
    )
    assert report.warnings == (
        "bus orders in 111122223333/us-west-1 kept: it has rules the config did not create (hand-made)",
    )
    assert len(report.unchanged) == 5  # the home file's bus, rules and targets
    assert await error_in(api, WEST_NS, "DescribeRule", {"Name": "placed", "EventBusName": "orders"}) == (
        "ResourceNotFoundException"
    )
    assert await error_in(api, WEST_NS, "DescribeArchive", {"ArchiveName": "all"}) == "ResourceNotFoundException"
    assert (await api.ok("DescribeRule", {"Name": "placed", "EventBusName": "orders"}))["Name"] == "placed"
    assert [t["Id"] for t in await targets_of(api, "placed", "orders")] == ["fn", "queue"]
    kept = await ok_in(api, other, "DescribeRule", {"Name": "placed", "EventBusName": "orders"})
    assert kept["EventPattern"] == '{"source":["x"]}'
    assert await owned(redis_client) == BASE_OWNED | {f"bus:{W}orders"}

    # Once that rule is gone, the west bus goes too; the home's stays.
    await ok_in(api, WEST_NS, "DeleteRule", {"Name": "hand-made", "EventBusName": "orders"})
    report = await apply(load_dir(tmp_path), dispatcher(api))
    assert (report.deleted, report.warnings) == (("bus orders in 111122223333/us-west-1",), ())
    assert await error_in(api, WEST_NS, "DescribeEventBus", {"Name": "orders"}) == "ResourceNotFoundException"
    assert (await api.ok("DescribeEventBus", {"Name": "orders"}))["Name"] == "orders"
    assert (await ok_in(api, other, "DescribeEventBus", {"Name": "orders"}))["Name"] == "orders"
    assert f"bus:{W}orders" not in await owned(redis_client)


async def test_the_same_names_in_two_namespaces_change_apart(
    api: Api, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    await apply(load_dir(two_namespaces(tmp_path)), dispatcher(api))
    home_version = await redis_client.get("sb:{b:46}:bus:orders:version")
    (tmp_path / "west.yaml").write_text(
        WEST
        + BASE.replace("MaximumRetryAttempts: 3", "MaximumRetryAttempts: 7")
        .replace("      - Id: fn\n", "")
        .replace(
            "        Arn: arn:aws:lambda:us-east-1:123456789012:function:process\n        InputPath: $.detail\n", ""
        )
    )
    report = await apply(load_dir(tmp_path), dispatcher(api))
    assert report.updated == ("target orders/placed/queue in 111122223333/us-west-1",)
    assert set(report.deleted) == {
        "target orders/placed/fn in 111122223333/us-west-1",
        "archive all in 111122223333/us-west-1",
    }
    west = await ok_in(api, WEST_NS, "ListTargetsByRule", {"Rule": "placed", "EventBusName": "orders"})
    assert [(t["Id"], t["RetryPolicy"]) for t in west["Targets"]] == [("queue", {"MaximumRetryAttempts": 7})]
    assert [t["Id"] for t in await targets_of(api, "placed", "orders")] == ["fn", "queue"]
    assert await redis_client.get("sb:{b:46}:bus:orders:version") == home_version  # the home's bus: not written


async def test_a_scheduled_rule_of_another_namespace_fires_on_its_default_bus(
    api: Api, redis_client: aioredis.Redis
) -> None:
    report = await apply(load_text("scheduled.yaml", WEST + SCHEDULED), dispatcher(api))
    assert report.created[0] == "rule default/tick in 111122223333/us-west-1"
    timers = Keys().timers(f"bus:{W}default")
    assert await redis_client.zscore(timers, "tick") is not None
    assert await redis_client.zscore(Keys().timers("bus:default"), "tick") is None
    await apply(load_text("scheduled.yaml", "rules: []\n"), dispatcher(api))
    assert await redis_client.zscore(timers, "tick") is None


async def test_an_owned_member_that_names_no_namespace_is_left_alone(api: Api, redis_client: aioredis.Redis) -> None:
    await redis_client.sadd(OWNED, "bus:12@us-west-1@orders", "rule:~scheduler~g:r")
    report = await apply(load_text("base.yaml", BASE), dispatcher(api))
    assert report.warnings == (  # rules are removed before buses
        "config-owned member 'rule:~scheduler~g:r' left alone: '~scheduler~g' is a delivery owner that is not a bus: "
        "it has no key-layout name",
        "config-owned member 'bus:12@us-west-1@orders' left alone: '12@us-west-1@orders' is not a key-layout name "
        "(NAME, or ACCOUNT@REGION@NAME)",
    )
    assert {"bus:12@us-west-1@orders", "rule:~scheduler~g:r"} <= await owned(redis_client)
