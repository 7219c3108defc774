"""Delivery metrics on `/metrics`, named after EventBridge's (§8), labelled `event_bus_name` and `rule_name`.

The counters describe the data, so, like MatchedEvents, they live in the bus's counters hash in Redis (fields
`<Metric>:<rule>`), incremented by the settle script in the step that acknowledges the job: each delivery's outcome
counts once, whichever process delivered it, and totals survive restarts. `IngestiontoInvocationStartLatency` is a
process histogram (seconds, Prometheus' unit; AWS reports milliseconds): from the event's ingestion to the start of
its first delivery attempt, observed by the process that made it; Prometheus sums the processes' buckets.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, Metric

__all__ = ["COUNTERS", "delivery_families", "latency_histogram", "observe_many"]

COUNTERS: dict[str, str] = {
    "Invocations": "Invocations: deliveries that succeeded or failed for good (retries not counted).",
    "FailedInvocations": "FailedInvocations: deliveries that failed for good (sent to the DLQ or dropped).",
    "InvocationAttempts": "InvocationAttempts: every delivery attempt, first tries and retries.",
    "SuccessfulInvocationAttempts": "SuccessfulInvocationAttempts: attempts that delivered.",
    "RetryInvocationAttempts": "RetryInvocationAttempts: attempts that were retries.",
    "InvocationsSentToDlq": "InvocationsSentToDlq: failed deliveries written to the target's dead-letter queue.",
    "InvocationsFailedToBeSentToDlq": "InvocationsFailedToBeSentToDlq: failed deliveries the DLQ did not take.",
}

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def latency_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "switchboard_ingestion_to_invocation_start_latency_seconds",
        "IngestiontoInvocationStartLatency: from ingestion to the start of the first delivery attempt.",
        ["event_bus_name", "rule_name"],
        buckets=LATENCY_BUCKETS_S,
        registry=registry,
    )


def observe_many(series: Histogram, seconds: float, count: int) -> None:
    """`count` observations of `seconds` in one labelled histogram series: the sum and the one bucket each moved
    once (by `seconds * count` and `count`), as `count` calls of `observe` would (a flush observes a few hundred
    deliveries of one latency, and `observe` costs a lock per call). Falls back to those calls on a
    prometheus_client whose Histogram keeps its values otherwise."""
    total = getattr(series, "_sum", None)
    buckets = getattr(series, "_buckets", None)
    bounds = getattr(series, "_upper_bounds", None)
    if total is None or buckets is None or bounds is None or len(buckets) != len(bounds) or count == 1:
        for _ in range(count):
            series.observe(seconds)
        return
    total.inc(seconds * count)
    for bucket, bound in zip(buckets, bounds, strict=True):
        if seconds <= bound:
            bucket.inc(count)
            break


def delivery_families(routing: dict[str, tuple[dict[str, int], int]]) -> list[Metric]:
    """Counter families from the per-bus counters hashes (as read by router.metrics)."""
    families = {
        name: CounterMetricFamily(f"switchboard_{_snake(name)}", text, labels=["event_bus_name", "rule_name"])
        for name, text in COUNTERS.items()
    }
    for bus, (counters, _) in routing.items():
        for field, value in sorted(counters.items()):
            name, sep, rule = field.partition(":")
            if sep and name in families:
                families[name].add_metric([bus, rule], value)
    return list(families.values())
