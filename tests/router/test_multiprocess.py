"""Several `switchboard serve` processes on one Redis: they share the ingest work with no event counted twice or
lost, and a rule change made through one process is in force in the other within a second."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.router._serve import ServeProcess, bus_count, rule_count, wait_for

pytestmark = pytest.mark.integration

PATTERN = orjson.dumps({"source": ["multi.test"]}).decode()
EVENT = {"Source": "multi.test", "DetailType": "t", "Detail": '{"n": 1}'}
SETTLED = ("switchboard_process_settled_events_total", ())


@pytest.fixture
def two_routers(tmp_path: Path, redis_url: str) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    first = ServeProcess(tmp_path, redis_url)
    second = ServeProcess(tmp_path, redis_url)
    try:
        first.wait_ready()
        second.wait_ready()
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_two_processes_share_the_work_and_count_each_event_once(
    two_routers: tuple[ServeProcess, ServeProcess],
) -> None:
    first, second = two_routers
    with httpx.Client(timeout=10) as client:
        assert first.call(client, "PutRule", {"Name": "all", "EventPattern": PATTERN}).status_code == 200
        sent = 0
        for batch in range(100):
            target = first if batch % 2 else second
            result = target.put_events(client, [EVENT] * 10)
            assert result["FailedEntryCount"] == 0
            sent += 10
            if batch % 10 == 0:
                time.sleep(0.02)  # let both consumers block on the stream now and then

    assert wait_for(lambda: rule_count(first.metrics(), "default", "all") >= sent, timeout_s=20)
    time.sleep(0.5)  # a double count would show up after the first match
    metrics_a, metrics_b = first.metrics(), second.metrics()
    assert rule_count(metrics_a, "default", "all") == sent
    assert rule_count(metrics_b, "default", "all") == sent  # the same Redis-backed counter, read by either process
    assert bus_count(metrics_a, "switchboard_ingested_events_total", "default") == sent
    settled_a, settled_b = metrics_a[SETTLED], metrics_b[SETTLED]
    assert settled_a + settled_b == sent
    assert settled_a > 0
    assert settled_b > 0


def test_a_rule_change_through_one_process_is_in_force_in_the_other_within_a_second(
    two_routers: tuple[ServeProcess, ServeProcess],
) -> None:
    first, second = two_routers
    # Both processes consume the bus; the counters are shared, so a stale matcher in either one would show.
    with httpx.Client(timeout=10) as client:
        assert first.call(client, "PutRule", {"Name": "flip", "EventPattern": PATTERN}).status_code == 200
        time.sleep(1.0)
        second.put_events(client, [EVENT] * 10)
        assert wait_for(lambda: rule_count(second.metrics(), "default", "flip") == 10, timeout_s=10)

        assert first.call(client, "DisableRule", {"Name": "flip"}).status_code == 200
        time.sleep(1.0)
        second.put_events(client, [EVENT] * 10)
        first.put_events(client, [EVENT] * 10)
        assert wait_for(
            lambda: bus_count(second.metrics(), "switchboard_ingested_events_total", "default") == 30, timeout_s=10
        )
        assert rule_count(second.metrics(), "default", "flip") == 10

        assert second.call(client, "EnableRule", {"Name": "flip"}).status_code == 200
        time.sleep(1.0)
        first.put_events(client, [EVENT] * 10)
        second.put_events(client, [EVENT] * 10)
        assert wait_for(lambda: rule_count(first.metrics(), "default", "flip") == 30, timeout_s=10)
