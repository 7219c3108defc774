"""The replay test of issue 14: archive every event of the order-to-cash bus, run the example, then replay the
archive into a new bus wired like the first one, with the saga and the services still consuming. The saga sees
every replayed input again and drops it (event ids, reply ids); the services get every command again and answer
from their idempotency records. No side effect repeats: the ledgers, every instance's version and history, and the
shop's outcomes are exactly what they were. On the session's redis-server and on the cluster."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from archive import ArchiveOptions
from archive import extension as archive_extension
from patterns import matches
from router.app import create_app
from router.config import load_dir
from router.keys import Keys
from router.metrics import FIELD_INGESTED
from router.settings import Settings
from sagas.examples.order_to_cash.demo import CONFIG_DIR, Example, queues_drained
from sagas.examples.order_to_cash.shop import plan
from sagas.view import SagaView
from tests.archive.conftest import archived, bus_arn
from tests.router.conftest import ServerThread, boto3_client
from tests.sagas.conftest import example_options
from tests.sagas.test_order_to_cash import ALL_TRUE
from tests.waiting import eventually

pytestmark = pytest.mark.integration

SAGA = "order-to-cash"


@pytest.fixture
def archiving_router(redis_url: str) -> Iterator[str]:
    """The example's router with the archive extension, its background work fast (replays claimed in 50 ms)."""
    options = ArchiveOptions(replay_poll_interval_s=0.05, replay_lease_ms=3000, maintenance_interval_s=0.2)
    app = create_app(
        Settings(redis_url=redis_url), config=load_dir(CONFIG_DIR), extensions=[archive_extension(options)]
    )
    server = ServerThread(app)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
async def replay_example(saga_redis: aioredis.Redis, archiving_router: str) -> AsyncIterator[Example]:
    async with Example(saga_redis, archiving_router, options=example_options()) as running:
        yield running


async def _snapshot(example: Example) -> dict[str, Any]:
    view = SagaView(example.redis)
    instances = {}
    for item in await view.listing(SAGA):
        found = await view.status(SAGA, item.entry.id)
        assert found is not None
        instances[item.entry.id] = (found.instance.version, found.history, found.instance.state)
    return {
        "ledgers": dataclasses.asdict(await example.services.ledgers()),
        "instances": instances,
        "outcomes": {order: outcome for order, (outcome, _) in example.shop.outcomes.items()},
    }


async def test_replaying_the_order_events_into_a_new_bus_repeats_no_side_effect(
    replay_example: Example, archiving_router: str, redis_url: str
) -> None:
    example = replay_example
    events = boto3_client(archiving_router)
    await asyncio.to_thread(
        events.create_archive, ArchiveName="order-history", EventSourceArn=bus_arn("orders"), RetentionDays=0
    )
    started = time.time() - 1
    orders = plan(40, seed=21, faults=0.5)
    summary = await example.run(orders)
    assert summary["checks"] == ALL_TRUE, (summary["checks"], summary["unexpected"])
    before = await _snapshot(example)
    assert before["ledgers"]["charges"] > 0
    assert before["ledgers"]["refunds"] > 0

    # every event of the run is archived (the archive is a managed rule on the bus: it lags the ingest a little)
    async def ingested() -> int:
        raw: Any = await example.redis.hget(Keys().bus_counters("orders"), FIELD_INGESTED)
        return int(raw or 0)

    async def archived_all() -> bool:
        count = (await asyncio.to_thread(events.describe_archive, ArchiveName="order-history"))["EventCount"]
        return bool(count) and count == await ingested()

    await eventually(archived_all, timeout_s=30, what="every event of the run archived")
    history = [orjson.loads(e.event) for e in archived(redis_url, "order-history")]
    saga_inputs = json.loads(
        (await asyncio.to_thread(events.describe_rule, Name="saga-inputs", EventBusName="orders"))["EventPattern"]
    )
    replayed_inputs = sum(1 for e in history if matches(saga_inputs, e))
    commands = sum(1 for e in history if e["source"] == "sagas.order-to-cash")
    assert replayed_inputs > len(orders)
    assert commands > len(orders)

    # a new bus, wired like the first: the saga's inputs, the services' commands, the outcomes
    await asyncio.to_thread(events.create_event_bus, Name="orders-replayed")
    for rule in (await asyncio.to_thread(events.list_rules, EventBusName="orders"))["Rules"]:
        if rule["Name"].startswith("Events-Archive-"):
            continue
        targets = await asyncio.to_thread(events.list_targets_by_rule, Rule=rule["Name"], EventBusName="orders")
        await asyncio.to_thread(
            events.put_rule, Name=rule["Name"], EventBusName="orders-replayed", EventPattern=rule["EventPattern"]
        )
        await asyncio.to_thread(
            events.put_targets, Rule=rule["Name"], EventBusName="orders-replayed", Targets=targets["Targets"]
        )
    duplicates_before = (await SagaView(example.redis).counters(SAGA)).get("duplicates", 0)

    await asyncio.to_thread(
        events.start_replay,
        ReplayName="orders-again",
        EventSourceArn="arn:aws:events:us-east-1:123456789012:archive/order-history",
        EventStartTime=started,
        EventEndTime=time.time() + 1,
        Destination={"Arn": bus_arn("orders-replayed")},
    )

    async def replay_state() -> str | None:
        state = (await asyncio.to_thread(events.describe_replay, ReplayName="orders-again"))["State"]
        return state if state in ("COMPLETED", "FAILED", "CANCELLED") else None

    assert await eventually(replay_state, timeout_s=60, what="the replay to end") == "COMPLETED"

    # the saga drops every replayed input, and every answer the services give to the replayed commands
    async def dropped() -> int:
        return (await SagaView(example.redis).counters(SAGA)).get("duplicates", 0) - duplicates_before

    async def settled() -> bool:
        if await dropped() < replayed_inputs:
            return False
        backlog = await _backlogs(archiving_router)
        return backlog.get("orders", 0) == backlog.get("orders-replayed", 0) == 0 and await queues_drained(
            example.redis, "sb"
        )

    async def settled_twice() -> bool:  # the answers to replayed commands travel one more hop: look again
        return await settled() and await settled()

    await eventually(settled_twice, timeout_s=60, what="the replayed inputs and commands handled")
    assert await dropped() > replayed_inputs  # the services answered replayed commands again: dropped too
    after = await _snapshot(example)
    assert after["ledgers"] == before["ledgers"]
    assert after["outcomes"] == before["outcomes"]
    assert after["instances"] == before["instances"]  # not one commit: versions and histories unchanged
    summary = await example.run(orders)  # everything has an outcome already: this only checks again
    assert summary["checks"] == ALL_TRUE, summary["pending"]


async def _backlogs(router_url: str) -> dict[str, float]:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{router_url}/metrics", timeout=10)).text
    return {
        sample.labels["event_bus_name"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "switchboard_ingest_backlog_events"
        for sample in family.samples
    }
