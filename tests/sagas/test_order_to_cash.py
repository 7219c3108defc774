"""The order-to-cash example end to end: a real router (uvicorn on 127.0.0.1) with the example's rules, the saga,
the services and the shop on the session's redis-server. One test per scenario of the issue, then all of them
mixed, each judged by the demo's checks (computed from the services' ledgers and the saga store)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from router.keys import Keys
from sagas import CANCELLED, COMPENSATED, COMPLETED
from sagas.examples.order_to_cash.definition import QUEUE, order_to_cash
from sagas.examples.order_to_cash.demo import Example, check
from sagas.examples.order_to_cash.services import Services
from sagas.examples.order_to_cash.shop import FAULTS, Order, plan
from sagas.keys import SagaKeys, instance_key
from sagas.store import SagaStore
from tests.sagas._support import RecordingPublisher, event

pytestmark = pytest.mark.integration

ALL_TRUE = {
    "every_order_final": True,
    "net_charged_equals_completed_value": True,
    "no_order_charged_twice": True,
    "reserved_equals_shipped": True,
    "no_saga_stuck": True,
    "every_order_as_expected": True,
}


def orders_with(fault: str, count: int = 3, *, large: bool = False, seed: int = 11) -> list[Order]:
    """`count` orders with the given fault ("" for none), from a seeded plan; clean ones small unless `large`."""
    candidates = plan(600, seed=seed, faults=0.9 if fault else 0.0)
    found = [o for o in candidates if o.fault == fault and (bool(fault) or o.large == large)]
    assert len(found) >= count
    return found[:count]


async def run(example: Example, orders: list[Order]) -> dict[str, Any]:
    summary = await example.run(orders)
    assert summary["all_outcomes_received"], summary
    assert summary["checks"] == ALL_TRUE, (summary["checks"], summary["pending"], summary["unexpected"])
    return summary


async def steps(example: Example, order: Order) -> dict[str, str]:
    instance = await SagaStore(example.redis, SagaKeys()).get("order-to-cash", instance_key(order.id))
    assert instance is not None
    return {name: str(record["status"]) for name, record in instance.steps.items()}


async def test_happy_path(example: Example) -> None:
    orders = orders_with("", 5)
    summary = await run(example, orders)
    assert summary["final_states"] == {COMPLETED: 5}
    ledgers = summary["ledgers"]
    assert ledgers["charged"] == sum(o.amount for o in orders)
    assert ledgers["refunded"] == 0
    assert ledgers["shipped"] == ledgers["reserved"] > 0
    assert await steps(example, orders[0]) == {"payment": "done", "inventory": "done", "shipping": "done"}


async def test_payment_declined_cancels_the_order_and_nothing_downstream_runs(example: Example) -> None:
    orders = orders_with("declined")
    summary = await run(example, orders)
    assert summary["final_states"] == {CANCELLED: 3}
    assert summary["ledgers"]["charged"] == summary["ledgers"]["reserved"] == summary["ledgers"]["shipped"] == 0
    assert await steps(example, orders[0]) == {"payment": "failed"}


async def test_inventory_missing_after_payment_refunds_then_cancels(example: Example) -> None:
    orders = orders_with("out-of-stock")
    summary = await run(example, orders)
    assert summary["final_states"] == {COMPENSATED: 3}
    ledgers = summary["ledgers"]
    assert ledgers["charged"] == ledgers["refunded"] == sum(o.amount for o in orders)
    assert ledgers["refunds"] == 3
    assert await steps(example, orders[0]) == {"payment": "compensated", "inventory": "failed"}


async def test_shipping_provider_down_retries_in_its_window_then_refunds_and_releases(example: Example) -> None:
    down, flaky = orders_with("provider-down", 2), orders_with("provider-flaky", 2)
    summary = await run(example, down + flaky)
    assert summary["final_states"] == {COMPENSATED: 2, COMPLETED: 2}
    assert await steps(example, down[0]) == {"payment": "compensated", "inventory": "compensated", "shipping": "failed"}
    history = await SagaStore(example.redis, SagaKeys()).history("order-to-cash", down[0].id)
    sent = [s["type"] for entry in history for s in entry.get("sent", [])]
    assert sent.count("CreateShipment") > 3
    assert sent[-3:] == ["ReleaseInventory", "RefundPayment", "OrderCancelled"]  # reverse order of the steps
    times = [e["at"] for e in history if e.get("input") == "timer retry"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] < gaps[1]  # backoff
    assert history[-1]["at"] - history[0]["at"] < 20_000


async def test_a_lost_payment_answer_is_asked_again_and_charged_once(example: Example) -> None:
    orders = orders_with("lost-reply", 2)
    summary = await run(example, orders)
    assert summary["final_states"] == {COMPLETED: 2}
    assert summary["ledgers"]["charges"] == 2


async def test_large_orders_wait_for_an_approval_with_both_outcomes(example: Example) -> None:
    approved = orders_with("", 2, large=True)
    rejected = orders_with("approval-rejected", 2)
    absent = orders_with("approval-absent", 2)
    summary = await run(example, approved + rejected + absent)
    assert summary["final_states"] == {COMPLETED: 2, COMPENSATED: 4}
    assert await steps(example, approved[0]) == {
        "payment": "done",
        "approval": "done",
        "inventory": "done",
        "shipping": "done",
    }
    assert await steps(example, rejected[0]) == {"payment": "compensated", "approval": "failed"}
    assert await steps(example, absent[0]) == {"payment": "compensated", "approval": "unknown"}
    assert summary["ledgers"]["reserved"] == summary["ledgers"]["shipped"]
    assert summary["ledgers"]["refunds"] == 4


async def test_every_scenario_mixed(example: Example) -> None:
    orders = plan(300, seed=7, faults=0.6)
    assert {o.fault for o in orders} >= set(FAULTS) | {""}
    summary = await run(example, orders)
    assert sum(summary["final_states"].values()) == 300


async def test_the_checks_say_where_an_order_without_an_instance_went(saga_redis: Any) -> None:
    """An order whose OrderSubmitted never became an instance is reported with what Redis still knows of it: the
    saga's rejection (and its reason), or its message still in the saga's queue, or neither (never delivered)."""
    rejected, queued, nowhere = plan(3, seed=5, faults=0.0)
    definition = order_to_cash()
    body = [orjson.dumps(event("OrderSubmitted", f"e-{o.id}", **o.detail)) for o in (rejected, queued)]
    await saga_redis.xadd(SagaKeys().rejected(definition.name), {"reason": "no correlation key", "body": body[0]})
    await saga_redis.xadd(Keys().queue(QUEUE), {"delivery_id": "d-1", "body": body[1]})
    summary = await check(
        saga_redis, "sb", definition, [rejected, queued, nowhere], Services(saga_redis, RecordingPublisher())
    )
    assert summary["final_states"] == {"MISSING": 3}
    assert summary["missing"] == [
        {"order": rejected.id, "rejected": "no correlation key", "in_saga_queue": False},
        {"order": queued.id, "rejected": None, "in_saga_queue": True},
        {"order": nowhere.id, "rejected": None, "in_saga_queue": False},
    ]
