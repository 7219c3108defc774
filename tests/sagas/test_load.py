"""The load test of issue 14: `switchboard demo order-to-cash` with 10,000 orders and 10% injected faults (every
fault kind of shop.FAULTS), run as a user runs it, holds every check.

Like every feature's tests it runs on the single redis-server and on the 3-master cluster (tests/conftest.py). Each
run takes minutes on the shared 2-core machine (BENCHMARKS.md has the times), so it is marked `slow`; it is still
part of `make test`."""

from __future__ import annotations

import json

import pytest

from sagas.examples.order_to_cash.shop import FAULTS
from tests.sagas.test_demo_command import switchboard
from tests.sagas.test_order_to_cash import ALL_TRUE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ORDERS = 10_000


def test_ten_thousand_orders_with_ten_percent_faults_hold_every_check(redis_url: str) -> None:
    done = switchboard(
        redis_url, "demo", "order-to-cash", "--orders", str(ORDERS), "--seed", "14", "--faults", "0.1", timeout=1500
    )
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-4000:])
    summary = json.loads(done.stdout)
    assert summary["checks"] == ALL_TRUE
    assert summary["orders"] == ORDERS
    assert sum(summary["final_states"].values()) == ORDERS
    faults = summary["faults_injected"]
    assert set(faults) == {*FAULTS, "none"}
    assert 0.08 * ORDERS < ORDERS - faults["none"] < 0.12 * ORDERS
    print(f"{ORDERS} orders: {summary['duration_s']} s, {summary['sagas_per_s']} sagas/s, {summary['latency_ms']}")
