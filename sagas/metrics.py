"""The saga metrics on the router's `/metrics` (router.extensions `Extension.metrics`), per saga type and state.

Like the router's routing counters, they describe the data, not a process: they are read at scrape time from the
shards' index (sagas.keys: counts per status and state, counters), which the runtimes update after every commit,
idempotently. So they are exact across any number of saga processes, survive restarts, and every router process
reports the same numbers; the router needs no saga code to report them.

- `switchboard_saga_instances{saga_type, status, state}` (gauge): instances there now;
- `switchboard_saga_started_total{saga_type}`, `switchboard_saga_finished_total{saga_type, status}`;
- `switchboard_saga_transitions_total{saga_type}`: commits (a transition, or an input recorded as ignored);
- `switchboard_saga_duplicate_inputs_total`, `switchboard_saga_orphan_events_total`,
  `switchboard_saga_rejected_messages_total`, `switchboard_saga_undeliverable_messages_total` (by saga_type).

Labels are bounded: saga types are the registered definitions, states those of the definition, statuses the
eight of sagas.instance.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from router.state import AppState
from sagas.instance import FINAL_STATUSES, START, STATUSES
from sagas.view import SagaView

__all__ = ["saga_metrics"]

_COUNTERS = (
    ("duplicates", "switchboard_saga_duplicate_inputs", "Inputs seen before (redelivered or replayed): dropped."),
    ("orphans", "switchboard_saga_orphan_events", "Events for no instance that start none (nothing stored)."),
    ("rejected", "switchboard_saga_rejected_messages", "Queue messages the saga could not take (rejected stream)."),
    ("undeliverable", "switchboard_saga_undeliverable_messages", "Outbox messages the router refused for good."),
)


async def saga_metrics(state: AppState) -> Sequence[Metric]:
    view = SagaView(state.redis, state.keys.prefix)
    instances = GaugeMetricFamily(
        "switchboard_saga_instances",
        "Saga instances by type, status and state now.",
        labels=["saga_type", "status", "state"],
    )
    started = CounterMetricFamily("switchboard_saga_started", "Saga instances started.", labels=["saga_type"])
    finished = CounterMetricFamily(
        "switchboard_saga_finished", "Saga instances that reached a final status.", labels=["saga_type", "status"]
    )
    transitions = CounterMetricFamily(
        "switchboard_saga_transitions",
        "Committed saga transitions (and inputs recorded as ignored).",
        labels=["saga_type"],
    )
    others = {field: CounterMetricFamily(name, text, labels=["saga_type"]) for field, name, text in _COUNTERS}
    for saga, described in (await view.types()).items():
        states = {str(s["name"]) for s in described.get("states", [])} | {START}
        for (status, name), count in sorted((await view.counts(saga)).items()):
            if status in STATUSES and name in states:
                instances.add_metric([saga, status, name], count)
        counters = await view.counters(saga)
        started.add_metric([saga], counters.get("started", 0))
        transitions.add_metric([saga], counters.get("commits", 0))
        for status in sorted(FINAL_STATUSES):
            finished.add_metric([saga, status], counters.get(f"finished:{status}", 0))
        for field, family in others.items():
            family.add_metric([saga], counters.get(field, 0))
    return [instances, started, finished, transitions, *others.values()]
