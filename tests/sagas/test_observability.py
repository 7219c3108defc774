"""Where is this order? `switchboard saga list|status|resume` as subprocesses and the saga metrics on `/metrics`,
against the order-to-cash example running on a real router and the session's Redis (single and cluster)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sagas import COMPENSATED, COMPLETED, PARKED
from sagas.examples.order_to_cash.demo import Example
from sagas.examples.order_to_cash.shop import Order
from sagas.view import SagaView
from tests.sagas.test_order_to_cash import ALL_TRUE, orders_with
from tests.waiting import eventually

pytestmark = pytest.mark.integration

SAGA = "order-to-cash"
REPO = str(Path(__file__).resolve().parents[2])


async def cli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`switchboard ARGS` in a subprocess (in a thread, so the example keeps running meanwhile)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SWITCHBOARD_KEY_PREFIX")}
    env["PYTHONPATH"] = REPO
    env["REDIS_URL"] = redis_url
    command = [sys.executable, "-m", "router.cli", *args]
    return await asyncio.to_thread(
        subprocess.run, command, check=False, env=env, capture_output=True, text=True, timeout=60
    )


def parked_order(order_id: str) -> Order:
    """Charged, then out of stock, and every refund fails: the compensation is retried, then parked."""
    detail = {
        "orderId": order_id,
        "amount": 4200,
        "currency": "EUR",
        "customer": "c-001",
        "items": [{"sku": "out-of-stock", "qty": 1}],
        "card": "refund-fails:99",
        "address": "1 Main Street",
    }
    return Order(order_id, 4200, "refund-fails", False, PARKED, detail)


def rows(listing: str) -> list[list[str]]:
    lines = listing.strip().splitlines()
    assert lines[0].split() == ["TYPE", "ID", "STATUS", "STATE", "UPDATED"]
    return [line.split()[:4] for line in lines[1:-1]]


async def test_list_status_and_resume_from_the_command_line(example: Example, redis_url: str) -> None:
    happy, down = orders_with("", 2), orders_with("provider-down", 1)
    summary = await example.run(happy + down)
    assert summary["checks"] == ALL_TRUE, summary
    parked = parked_order("o-parked-1")
    await example.shop.submit([parked])
    view = SagaView(example.redis)

    async def where() -> tuple[str, str] | None:
        found = await view.find(parked.id)
        return (found[0].status, found[0].state) if found else None

    async def is_parked() -> bool:
        return await where() == (PARKED, "parked:payment")

    await eventually(
        is_parked,
        timeout_s=30,
        what=f"the parked order (now {await where()}, {await view.counters(SAGA)}, {example.runtime.outcomes})",
    )
    await eventually(lambda: parked.id in example.shop.attention, what="OrderNeedsAttention")

    listed = await cli(redis_url, "saga", "list")
    assert listed.returncode == 0, listed.stderr
    got = rows(listed.stdout)
    assert sorted(r[1] for r in got) == sorted(o.id for o in [*happy, *down, parked])
    assert got[0] == [SAGA, parked.id, PARKED, "parked:payment"]  # the most recent change first
    assert {r[1]: r[2] for r in got}[down[0].id] == COMPENSATED
    assert listed.stdout.strip().splitlines()[-1] == "4 instances: 1 COMPENSATED, 2 COMPLETED, 1 PARKED"

    only = await cli(redis_url, "saga", "list", "--state", "completed")
    assert sorted(r[1] for r in rows(only.stdout)) == sorted(o.id for o in happy)
    by_state = await cli(redis_url, "saga", "list", "--type", SAGA, "--state", "parked:payment")
    assert [r[1] for r in rows(by_state.stdout)] == [parked.id]
    none = await cli(redis_url, "saga", "list", "--state", "shipping")
    assert none.stdout.strip().splitlines()[-1] == "0 instances: none"
    wrong = await cli(redis_url, "saga", "list", "--type", SAGA, "--state", "nowhere")
    assert wrong.returncode == 2
    assert "saga type order-to-cash has no state or status 'nowhere'" in wrong.stderr

    status = await cli(redis_url, "saga", "status", parked.id)
    assert status.returncode == 0, status.stderr
    text = status.stdout
    assert text.splitlines()[0] == f"{SAGA} {parked.id}"
    assert "  status   PARKED" in text
    assert "  state    parked:payment" in text
    step_lines = {line.split()[0]: line.split() for line in text.split("steps\n")[1].split("history\n")[0].splitlines()}
    assert step_lines["payment"][1:4] == ["parked", "attempts", "1"]
    assert step_lines["inventory"][1:4] == ["failed", "attempts", "1"]
    history = [line.split("Z  ", 1)[1] for line in text.split("history\n")[1].splitlines() if "Z  " in line]
    assert history[:3] == [
        "OrderSubmitted: (start) -> payment; sent ChargePayment",
        "PaymentSucceeded: payment -> inventory; sent ReserveInventory",
        "InventoryUnavailable: inventory -> compensate:payment; sent RefundPayment",
    ]
    assert "timer retry: compensate:payment -> compensate:payment attempt 5; sent RefundPayment" in history
    assert history[-1] == "RefundFailed: compensate:payment -> parked:payment; sent OrderNeedsAttention"
    assert "      note: attempt 4 failed (RefundFailed); retrying in 0.8 s" in text

    as_json = json.loads((await cli(redis_url, "saga", "status", parked.id, "--json")).stdout)
    stored = await view.status(SAGA, parked.id)
    assert stored is not None
    assert (as_json["status"], as_json["state"], as_json["version"]) == (
        PARKED,
        "parked:payment",
        stored.instance.version,
    )
    assert as_json["history"] == stored.history
    assert as_json["outbox"] == 0

    missing = await cli(redis_url, "saga", "status", "no-such-order")
    assert missing.returncode == 9
    assert "no instance 'no-such-order' in any saga type" in missing.stderr
    not_parked = await cli(redis_url, "saga", "resume", happy[0].id)
    assert not_parked.returncode == 2
    assert "is COMPLETED (completed), not PARKED" in not_parked.stderr

    resumed = await cli(redis_url, "saga", "resume", parked.id)
    assert resumed.returncode == 0, resumed.stderr

    async def resumed_entry() -> dict[str, Any] | None:
        found = await view.status(SAGA, parked.id)
        assert found is not None
        return next((e for e in found.history if e.get("input") == "control resume"), None)

    entry = await eventually(resumed_entry, timeout_s=20, what="the resume in the history")
    assert (entry["from"], entry["to"]) == ("parked:payment", "compensate:payment")
    assert entry["sent"][0]["type"] == "RefundPayment"


async def _scrape(url: str) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/metrics", timeout=10)).text


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("switchboard_saga_"):
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_metrics_per_saga_type_and_state(example: Example, o2c_router: str) -> None:
    before = _samples(await _scrape(o2c_router))  # the runtime registered the type
    assert before[("switchboard_saga_started_total", (("saga_type", SAGA),))] == 0
    assert not [k for k in before if k[0] == "switchboard_saga_instances"]
    summary = await example.run(orders_with("", 3) + orders_with("declined", 1) + orders_with("out-of-stock", 2))
    assert summary["checks"] == ALL_TRUE, summary
    text = await _scrape(o2c_router)
    assert "# TYPE switchboard_saga_instances gauge" in text
    samples = _samples(text)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"saga_type": SAGA, **labels}.items())))]

    assert value("switchboard_saga_instances", status=COMPLETED, state="completed") == 3
    assert value("switchboard_saga_instances", status="CANCELLED", state="cancelled") == 1
    assert value("switchboard_saga_instances", status=COMPENSATED, state="compensated") == 2
    instances = {k: v for k, v in samples.items() if k[0] == "switchboard_saga_instances"}
    assert sum(instances.values()) == 6
    assert len(instances) == 3
    assert value("switchboard_saga_started_total") == 6
    assert value("switchboard_saga_finished_total", status=COMPLETED) == 3
    assert value("switchboard_saga_finished_total", status=COMPENSATED) == 2
    assert value("switchboard_saga_finished_total", status="FAILED") == 0
    versions = sum(item.entry.version for item in await SagaView(example.redis).listing(SAGA))
    assert value("switchboard_saga_transitions_total") == versions  # one version per commit
    assert value("switchboard_saga_rejected_messages_total") == 0
