"""Every /metrics label set is bounded, whatever clients send: unknown operations collapse to `Unknown`, and the
series of deleted rules leave the output."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import generate_latest

from router.metrics import Metrics
from tests.router._serve import parse_metrics
from tests.router.conftest import Api
from tests.waiting import eventually


def test_distinct_unknown_operations_share_one_label() -> None:
    metrics = Metrics()
    metrics.allow_operations({"PutEvents"})
    metrics.observe_request("PutEvents", 200, 0.001)
    for _ in range(20_000):
        metrics.observe_request(f"Op{uuid.uuid4().hex}", 400, 0.001)
    metrics.observe_request("PutEvents", 1234, 0.001)  # a status that is not one: counted as 500
    text = generate_latest(metrics.registry).decode()
    assert len(text) < 20_000, len(text)
    samples = parse_metrics(text)
    assert samples[("switchboard_requests_total", (("operation", "Unknown"), ("status", "400")))] == 20_000
    assert samples[("switchboard_requests_total", (("operation", "PutEvents"), ("status", "200")))] == 1
    assert samples[("switchboard_requests_total", (("operation", "PutEvents"), ("status", "500")))] == 1
    assert {labels for name, labels in samples if name == "switchboard_request_duration_seconds_count"} == {
        (("operation", "PutEvents"),),
        (("operation", "Unknown"),),
    }


@pytest.mark.integration
async def test_unknown_targets_over_the_wire_collapse_to_unknown(api: Api) -> None:
    for i in range(300):
        response = await api.raw(f"Nope{i}", b"{}")
        assert response.status_code == 400
        await api.raw(f"Nope{i}", b"{}", headers={"X-Amz-Target": f"AmazonSQS.Nope{i}"})
    await api.ok("ListEventBuses")
    samples = parse_metrics((await api.client.get("/metrics")).text)
    operations = {dict(labels)["operation"] for name, labels in samples if name == "switchboard_requests_total"}
    assert operations == {"Unknown", "ListEventBuses"}


@pytest.mark.integration
async def test_a_deleted_rules_series_leave_metrics(api: Api) -> None:
    queue = "arn:aws:sqs:us-east-1:123456789012:labels"
    for name in ("kept", "gone"):
        await api.ok("PutRule", {"Name": name, "EventPattern": '{"source": ["labels.test"]}'})
        await api.ok("PutTargets", {"Rule": name, "Targets": [{"Id": "q", "Arn": queue}]})
    await api.ok("PutEvents", {"Entries": [{"Source": "labels.test", "DetailType": "t", "Detail": "{}"}]})

    def series(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> set[tuple[str, str]]:
        return {
            (name, dict(labels)["rule_name"])
            for name, labels in samples
            if "rule_name" in dict(labels) and not name.endswith("_bucket")
        }

    async def delivered() -> set[tuple[str, str]]:
        found = series(parse_metrics((await api.client.get("/metrics")).text))
        return found if ("switchboard_invocations_total", "gone") in found else set()

    before = await eventually(delivered, what="both rules' deliveries in /metrics")
    assert ("switchboard_triggered_rules_total", "gone") in before
    await api.ok("RemoveTargets", {"Rule": "gone", "Ids": ["q"]})
    await api.ok("DeleteRule", {"Name": "gone"})
    after = series(parse_metrics((await api.client.get("/metrics")).text))
    assert {rule for _, rule in after} == {"kept"}
    assert {name for name, _ in after} == {name for name, rule in before if rule == "kept"}
