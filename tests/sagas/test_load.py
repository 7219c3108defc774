"""The load test of issue 14: `switchboard demo order-to-cash` with 10,000 orders and 10% injected faults (every
fault kind of shop.FAULTS), run as a user runs it, holds every check.

Like every feature's tests it runs on the single redis-server and on the 3-master cluster (tests/conftest.py). At
10,000 orders each run takes minutes on the shared 2-core machine (BENCHMARKS.md has the times), about 5 min of CI's
integration tier, so that size is in the `soak` tier (`make soak`; tests/conftest.py deselects it elsewhere). CI runs
the same test at 2,000 orders (`slow`): every fault kind is drawn and every check holds, in a fifth of the time."""

from __future__ import annotations

import json

import pytest

from sagas.examples.order_to_cash.shop import FAULTS
from tests.sagas.test_demo_command import switchboard
from tests.sagas.test_order_to_cash import ALL_TRUE

pytestmark = pytest.mark.integration

TIMEOUT_S = 1500
"""The demo's own deadline; pytest-timeout's 600 s is too close to a run on a loaded machine (403-502 s seen)."""

CI_ORDERS = 2_000
"""CI's size: enough that every fault kind is drawn (the set assertion below) with seed 14."""

SOAK_ORDERS = 10_000


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize(
    "orders",
    [
        pytest.param(CI_ORDERS, marks=pytest.mark.slow, id="ci"),
        pytest.param(SOAK_ORDERS, marks=pytest.mark.soak, id="soak"),
    ],
)
def test_many_orders_with_ten_percent_faults_hold_every_check(redis_url: str, orders: int) -> None:
    args = ["demo", "order-to-cash", "--orders", str(orders), "--seed", "14", "--faults", "0.1"]
    done = switchboard(redis_url, *args, timeout=TIMEOUT_S)
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-4000:])
    summary = json.loads(done.stdout)
    assert summary["checks"] == ALL_TRUE
    assert summary["orders"] == orders
    assert sum(summary["final_states"].values()) == orders
    faults = summary["faults_injected"]
    assert set(faults) == {*FAULTS, "none"}
    assert 0.08 * orders < orders - faults["none"] < 0.12 * orders
    print(f"{orders} orders: {summary['duration_s']} s, {summary['sagas_per_s']} sagas/s, {summary['latency_ms']}")
