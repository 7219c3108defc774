"""Prometheus metrics for `GET /metrics`, named after EventBridge's CloudWatch metrics (`AWS/Events`, §8).

Two kinds of numbers, kept apart on purpose:

- **Process metrics** (request latency per operation, PutEvents request size, entry and failed-entry counts) are
  ordinary in-memory prometheus_client series. They describe the process that answered the request, reset on
  restart like any Prometheus counter, and Prometheus sums them over the router processes it scrapes.
- **Routing counters** (MatchedEvents, TriggeredRules, events processed per bus) describe the *data*, not a process:
  they live in Redis (`sb:{b:N}:bus:B:counters`), are incremented by the ingest worker in the same atomic step that
  acknowledges the event, and so survive restarts and are exactly-once across any number of processes. Every process
  reports the same totals for them; scrape one process, or de-duplicate on the labels.

AWS dimension names become labels: `event_bus_name`, `rule_name`.

Every label set is bounded, whatever clients send. `operation` takes only the names of operations the port serves
or models (`allow_operations`; router.app registers every service's): any other `X-Amz-Target` counts as
`Unknown`. `status` is an HTTP status code. Bus and rule labels come from what is stored, and only rules that exist
are reported: the series of a deleted rule leave `/metrics` at the next scrape (the Redis counters stay, and come
back if a rule of that name is created again).

Extensions add their own families at scrape time (`router.extensions.Extension.metrics`), after the router's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from router.state import AppState

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series: they double the output and nothing here needs them

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Field names in the per-bus counters hash (`Keys.bus_counters`). A rule's own counters use `<field>:<rule name>`;
# rule names match [.\-_A-Za-z0-9]+, so they never contain ':'.
FIELD_INGESTED = "IngestedEvents"
FIELD_MATCHED = "MatchedEvents"
FIELD_RULE_TRIGGERED_PREFIX = "TriggeredRules:"
FIELD_THROTTLED = "ThrottledEvents"
"""Events refused because the bus's ingest backlog was full (router.backlog, which writes it)."""
FIELD_PARKED = "ParkedEvents"
"""Events the ingest worker could not route and parked for an operator (router.ingest)."""

UNKNOWN_OPERATION = "Unknown"
"""The one `operation` label of every request for an operation that is not served or modelled."""

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SIZE_BUCKETS_BYTES = (256, 1024, 4096, 16384, 65536, 262144, 524288, 1048576)


def rule_triggered_field(rule: str) -> str:
    return FIELD_RULE_TRIGGERED_PREFIX + rule


class Metrics:
    """The process metrics, and the renderer that adds the Redis-backed routing counters at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "switchboard_request_duration_seconds",
            "Time to answer one API request, by EventBridge operation (PutEventsLatency for PutEvents).",
            ["operation"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.requests = Counter(
            "switchboard_requests",
            "API requests by operation and HTTP status (PutEventsApproximateCallCount for PutEvents).",
            ["operation", "status"],
            registry=self.registry,
        )
        self.put_events_request_size = Histogram(
            "switchboard_put_events_request_size_bytes",
            "PutEventsRequestSize: AWS's entry-size formula summed over the request's entries.",
            buckets=SIZE_BUCKETS_BYTES,
            registry=self.registry,
        )
        self.put_events_entries = Counter(
            "switchboard_put_events_entries",
            "PutEventsEntriesCount: entries received in accepted-for-processing PutEvents requests.",
            registry=self.registry,
        )
        self.put_events_failed_entries = Counter(
            "switchboard_put_events_failed_entries",
            "PutEventsFailedEntriesCount: entries that failed (positional ErrorCode in the response).",
            registry=self.registry,
        )
        self.put_events_throttled_entries = Counter(
            "switchboard_put_events_throttled_entries",
            "PutEventsApproximateThrottledCount: entries refused with ThrottlingException (bus backlog full).",
            registry=self.registry,
        )
        self._duration_children: dict[str, Histogram] = {}
        self._request_children: dict[tuple[str, int], Counter] = {}
        self._operations: set[str] = {UNKNOWN_OPERATION}
        self._rule_series: list[Histogram | Counter] = []

    def allow_operations(self, names: Iterable[str]) -> None:
        """Operation names that get a label of their own; any other is counted as `Unknown`."""
        self._operations.update(names)

    # hot path ------------------------------------------------------------------------------------------------
    def observe_request(self, operation: str, status: int, seconds: float) -> None:
        """A `Dispatcher.observers` hook."""
        if operation not in self._operations:
            operation = UNKNOWN_OPERATION
        if not 100 <= status <= 599:
            status = 500
        duration = self._duration_children.get(operation)
        if duration is None:
            duration = self._duration_children[operation] = self.request_duration.labels(operation)
        duration.observe(seconds)
        key = (operation, status)
        count = self._request_children.get(key)
        if count is None:
            count = self._request_children[key] = self.requests.labels(operation, str(status))
        count.inc()

    def observe_put_events(self, size_bytes: int, entries: int, failed: int, throttled: int = 0) -> None:
        self.put_events_request_size.observe(size_bytes)
        self.put_events_entries.inc(entries)
        if failed:
            self.put_events_failed_entries.inc(failed)
        if throttled:
            self.put_events_throttled_entries.inc(throttled)

    # scrape --------------------------------------------------------------------------------------------------
    def track_rule_series(self, metric: Histogram | Counter) -> None:
        """A process metric labelled (event_bus_name, rule_name): its series of deleted rules are dropped at scrape."""
        self._rule_series.append(metric)

    async def render(self, state: AppState) -> bytes:
        routing, rules = await _read_routing_counters(state)
        from router.delivery.metrics import delivery_families  # router.delivery imports router.ingest, which imports us

        self._drop_deleted_rules(rules)
        families = _routing_families(routing) + delivery_families(routing) + _process_families(state)
        for extension in state.extras.get("extensions", ()):
            for source in extension.metrics:
                families += list(await source(state))
        return generate_latest(self.registry) + generate_latest(_OneShot(families))

    def _drop_deleted_rules(self, rules: set[tuple[str, str]]) -> None:
        for metric in self._rule_series:
            labelled = {
                (sample.labels["event_bus_name"], sample.labels["rule_name"])
                for family in metric.collect()
                for sample in family.samples
                if "rule_name" in sample.labels
            }
            for bus, rule in labelled - rules:
                metric.remove(bus, rule)


class _OneShot(CollectorRegistry):
    """A registry that renders a fixed list of metric families once."""

    def __init__(self, families: list[Metric]) -> None:
        super().__init__(auto_describe=False)
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


async def _read_routing_counters(
    state: AppState,
) -> tuple[dict[str, tuple[dict[str, int], int]], set[tuple[str, str]]]:
    """(bus name -> (counters hash, events not yet processed by the router's consumer group), the (bus, rule) pairs
    that exist). Counters of rules that no longer exist are left out."""
    raw_buses = await state.redis.hkeys(state.keys.buses)
    buses = sorted(b.decode() if isinstance(b, bytes) else str(b) for b in raw_buses)
    if not buses:
        return {}, set()
    async with state.redis.pipeline(transaction=False) as pipe:
        for bus in buses:
            pipe.hgetall(state.keys.bus_counters(bus))
            pipe.hkeys(state.keys.rules(bus))
        results = await pipe.execute()
    backlog = await _backlogs(state, buses)
    out: dict[str, tuple[dict[str, int], int]] = {}
    existing: set[tuple[str, str]] = set()
    for index, bus in enumerate(buses):
        rules = {_text(name) for name in results[2 * index + 1]}
        existing.update((bus, rule) for rule in rules)
        counters = {}
        for key, value in results[2 * index].items():
            field = _text(key)
            _, per_rule, rule = field.partition(":")
            if not per_rule or rule in rules:
                counters[field] = int(value)
        out[bus] = (counters, backlog.get(bus, 0))
    return out, existing


async def _backlogs(state: AppState, buses: Iterable[str]) -> dict[str, int]:
    """Pending (delivered, not acknowledged) plus lag (not yet delivered) of the router group, per bus."""
    from router.keys import INGEST_GROUP

    names = list(buses)
    async with state.redis.pipeline(transaction=False) as pipe:
        for bus in names:
            pipe.xinfo_groups(state.keys.ingest(bus))
        replies = await pipe.execute(raise_on_error=False)
    out: dict[str, int] = {}
    for bus, groups in zip(names, replies, strict=True):
        if isinstance(groups, Exception):  # no stream yet
            continue
        for group in groups:
            if _text(group.get("name", b"")) == INGEST_GROUP:
                lag = group.get("lag")
                out[bus] = int(group.get("pending", 0)) + (int(lag) if lag is not None else 0)
    return out


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _routing_families(routing: dict[str, tuple[dict[str, int], int]]) -> list[Metric]:
    matched = CounterMetricFamily(
        "switchboard_matched_events",
        "MatchedEvents: events on the bus that matched at least one rule.",
        labels=["event_bus_name"],
    )
    rule_matched = CounterMetricFamily(
        "switchboard_rule_matched_events",
        "MatchedEvents by RuleName: events that matched the rule.",
        labels=["event_bus_name", "rule_name"],
    )
    triggered = CounterMetricFamily(
        "switchboard_triggered_rules",
        "TriggeredRules by RuleName: times the rule was triggered (sum over rule_name for the bus-level metric).",
        labels=["event_bus_name", "rule_name"],
    )
    ingested = CounterMetricFamily(
        "switchboard_ingested_events",
        "Events the router's ingest worker has processed (matched or not) on the bus. Switchboard-only.",
        labels=["event_bus_name"],
    )
    backlog = GaugeMetricFamily(
        "switchboard_ingest_backlog_events",
        "Events accepted on the bus and not yet processed by the ingest worker. Switchboard-only.",
        labels=["event_bus_name"],
    )
    throttled = CounterMetricFamily(
        "switchboard_ingest_throttled_events",
        "Events refused because the bus's ingest backlog was at its bound (ThrottlingException). Switchboard-only.",
        labels=["event_bus_name"],
    )
    parked = CounterMetricFamily(
        "switchboard_ingest_parked_events",
        "Events the ingest worker could not route and parked (`switchboard ingest parked|redrive`). Switchboard-only.",
        labels=["event_bus_name"],
    )
    for bus, (counters, pending) in routing.items():
        matched.add_metric([bus], counters.get(FIELD_MATCHED, 0))
        parked.add_metric([bus], counters.get(FIELD_PARKED, 0))
        throttled.add_metric([bus], counters.get(FIELD_THROTTLED, 0))
        ingested.add_metric([bus], counters.get(FIELD_INGESTED, 0))
        backlog.add_metric([bus], pending)
        for field, value in sorted(counters.items()):
            if field.startswith(FIELD_RULE_TRIGGERED_PREFIX):
                rule = field[len(FIELD_RULE_TRIGGERED_PREFIX) :]
                rule_matched.add_metric([bus, rule], value)
                triggered.add_metric([bus, rule], value)
    return [matched, rule_matched, triggered, ingested, backlog, parked, throttled]


def _process_families(state: AppState) -> list[Metric]:
    worker = state.extras.get("ingest_worker")
    settled = CounterMetricFamily(
        "switchboard_process_settled_events",
        "Events this process's ingest worker processed and acknowledged since it started (all buses).",
    )
    settled.add_metric([], getattr(worker, "processed_events", 0))
    families: list[Metric] = [settled]
    front_door = state.extras.get("front_door")  # router.front_door's protocol class, when served by router.serve
    if front_door is not None:
        from router.front_door import REFUSALS

        stats: dict[str, int] = front_door.stats
        refused = CounterMetricFamily(
            "switchboard_front_door_refused",
            "Connections the front door refused or closed, by reason: connection_limit (503), header_timeout and "
            "body_timeout (408, or a silent close of an idle connection), headers_too_large (431).",
            labels=["reason"],
        )
        for reason in REFUSALS:
            refused.add_metric([reason], stats[reason])
        open_connections = GaugeMetricFamily(
            "switchboard_client_connections", "Client connections open now, on this process (including refused)."
        )
        open_connections.add_metric([], stats["open"])
        families += [refused, open_connections]
    return families
