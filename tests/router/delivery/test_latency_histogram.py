"""`observe_many`: one step for `count` observations of one latency gives the histogram `count` observations would."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from router.delivery.metrics import latency_histogram, observe_many


@pytest.mark.parametrize("seconds", [0.0, 0.0007, 0.001, 0.003, 7.5, 60.0, 61.0, 3600.0])
def test_observe_many_equals_repeated_observe(seconds: float) -> None:
    one_by_one, at_once = CollectorRegistry(), CollectorRegistry()
    slow, fast = latency_histogram(one_by_one), latency_histogram(at_once)
    for count in (1, 3, 250):
        for _ in range(count):
            slow.labels("bus", "rule").observe(seconds)
        observe_many(fast.labels("bus", "rule"), seconds, count)
    assert _samples(at_once) == pytest.approx(_samples(one_by_one), rel=1e-12)  # the sum: one product, not n sums
    assert (
        at_once.get_sample_value(
            "switchboard_ingestion_to_invocation_start_latency_seconds_count",
            {"event_bus_name": "bus", "rule_name": "rule"},
        )
        == 254
    )


def test_observe_many_of_zero_observes_nothing() -> None:
    registry = CollectorRegistry()
    series = latency_histogram(registry).labels("bus", "rule")
    observe_many(series, 0.002, 0)
    assert (
        registry.get_sample_value(
            "switchboard_ingestion_to_invocation_start_latency_seconds_count",
            {"event_bus_name": "bus", "rule_name": "rule"},
        )
        == 0
    )


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }
