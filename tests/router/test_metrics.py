"""GET /metrics: Prometheus text with the AWS/Events-named counters (Redis-backed) and the process histograms."""

from __future__ import annotations

import asyncio

import pytest

from tests.router._serve import bus_count, parse_metrics, rule_count
from tests.router.conftest import Api

pytestmark = pytest.mark.integration

PATTERN = '{"source": ["metrics.test"]}'


async def test_metrics_report_matching_and_put_events(api: Api) -> None:
    await api.ok("PutRule", {"Name": "hit", "EventPattern": PATTERN})
    await api.ok("PutRule", {"Name": "off", "EventPattern": PATTERN, "State": "DISABLED"})
    await api.ok("PutRule", {"Name": "miss", "EventPattern": '{"source": ["elsewhere"]}'})
    entries = [{"Source": "metrics.test", "DetailType": "t", "Detail": "{}"}] * 3 + [{"Source": "x"}]
    await api.ok("PutEvents", {"Entries": entries})
    await api.ok("PutEvents", {"Entries": [{"Source": "other", "DetailType": "t", "Detail": "{}"}]})

    for _ in range(100):
        response = await api.client.get("/metrics")
        metrics = parse_metrics(response.text)
        if bus_count(metrics, "switchboard_ingested_events_total", "default") == 4:
            break
        await asyncio.sleep(0.05)
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert rule_count(metrics, "default", "hit") == 3
    assert rule_count(metrics, "default", "off") == 0
    assert rule_count(metrics, "default", "miss") == 0
    assert bus_count(metrics, "switchboard_matched_events_total", "default") == 3
    assert (
        metrics[("switchboard_rule_matched_events_total", (("event_bus_name", "default"), ("rule_name", "hit")))] == 3
    )
    assert metrics[("switchboard_put_events_entries_total", ())] == 5
    assert metrics[("switchboard_put_events_failed_entries_total", ())] == 1
    assert metrics[("switchboard_put_events_request_size_bytes_count", ())] == 2
    assert metrics[("switchboard_put_events_request_size_bytes_sum", ())] == 3 * (12 + 1 + 2) + 1 + 5 + 1 + 2
    assert metrics[("switchboard_request_duration_seconds_count", (("operation", "PutEvents"),))] == 2
    assert metrics[("switchboard_requests_total", (("operation", "PutEvents"), ("status", "200")))] == 2
