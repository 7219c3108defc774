"""`switchboard demo order-to-cash` as a user runs it: a subprocess that starts the router, runs the saga, the
services and the shop with injected faults, and prints the JSON summary with its checks; the data stays in the
Redis for `switchboard saga list`. On the session's redis-server and on the cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from router.cli import main
from tests.sagas.test_order_to_cash import ALL_TRUE

REPO = str(Path(__file__).resolve().parents[2])


def switchboard(redis_url: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SWITCHBOARD_KEY_PREFIX")}
    env["PYTHONPATH"] = REPO
    env["REDIS_URL"] = redis_url
    command = [sys.executable, "-m", "router.cli", *args]
    return subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.integration
def test_the_demo_prints_its_summary_and_every_check_holds(redis_url: str) -> None:
    done = switchboard(redis_url, "demo", "order-to-cash", "--orders", "24", "--seed", "4", "--faults", "0.5")
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    summary = json.loads(done.stdout)
    assert summary["checks"] == ALL_TRUE
    assert summary["ok"] is True
    assert (summary["orders"], summary["seed"], summary["faults"]) == (24, 4, 0.5)
    assert sum(summary["final_states"].values()) == 24
    assert set(summary["final_states"]) <= {"COMPLETED", "COMPENSATED", "CANCELLED"}
    assert sum(n for fault, n in summary["faults_injected"].items() if fault != "none") >= 6
    assert summary["ledgers"]["charged"] - summary["ledgers"]["refunded"] == summary["ledgers"]["completed_value"]
    assert summary["latency_ms"]["p50"] > 0
    assert "INFO" not in done.stderr  # no request log lines around the summary

    listed = switchboard(redis_url, "saga", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    instances = json.loads(listed.stdout)
    assert len(instances) == 24
    by_status: dict[str, int] = {}
    for instance in instances:
        by_status[instance["status"]] = by_status.get(instance["status"], 0) + 1
    assert by_status == summary["final_states"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--faults", "1.5"], "'1.5' is not a rate: use a number from 0 to 1"),
        (["--orders", "0"], "'0' is not a positive integer"),
        (["--seed", "x"], "invalid int value: 'x'"),
    ],
)
def test_bad_demo_arguments_are_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "order-to-cash", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
