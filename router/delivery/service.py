"""Wiring: builds a process's delivery stage (sink, transports, lanes, worker) from its `AppState`.

`Delivery.for_state(state)` is called by `router.app.create_app`: its `sink` goes to the ingest worker, `start()`
runs after the ingest worker has started and `stop()` before it stops. API destinations use the process's
`ConnectionStore` and `ConnectionAuth` (registered by router.api.connections); the HTTP client is shared by every
HTTP target of the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from router.arns import Arns
from router.connections.auth import Authorization, ConnectionAuth
from router.connections.store import ConnectionStore
from router.delivery.api_destinations import ApiDestinationTransport
from router.delivery.bus_target import BusTransport
from router.delivery.functions import FunctionTransport
from router.delivery.http import new_client
from router.delivery.lanes import LaneContext
from router.delivery.metrics import latency_histogram, observe_many
from router.delivery.queues import QueueTransport
from router.delivery.rate_limit import RateLimiter
from router.delivery.retry import Backoff
from router.delivery.scripts import SETTLE
from router.delivery.sink import DeliverySink
from router.delivery.transports import Transports
from router.delivery.worker import DeliveryWorker, WorkerOptions
from router.keys import DELIVERY_GROUP
from router.partitioned import consumer_name
from router.state import AppState

__all__ = ["Delivery"]


class Delivery:
    def __init__(
        self,
        state: AppState,
        *,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
        options: WorkerOptions | None = None,
        batch_size: int = 500,
        inline: bool = True,
    ) -> None:
        settings, redis, keys = state.settings, state.redis, state.keys
        self.state = state
        self.client = new_client()
        arns = Arns(settings.region, settings.account_id)
        queue = QueueTransport(redis, keys)
        self._auth: ConnectionAuth | None = None
        transports = Transports(
            queue=queue,
            bus=BusTransport(redis, keys, arns, backlog_limit=settings.ingest_backlog_limit_events),
            function=FunctionTransport(redis, keys, self.client),
            api_destination=ApiDestinationTransport(
                self._store(), _LazyAuth(self), RateLimiter(redis, keys), self.client
            ),
        )
        metrics = state.extras.get("metrics")
        histogram = latency_histogram(metrics.registry) if metrics is not None else None
        if metrics is not None and histogram is not None:
            metrics.track_rule_series(histogram)  # a deleted rule's series are dropped at scrape (router.metrics)

        def observe(bus: str, rule: str, seconds: float, count: int = 1) -> None:
            """`count` deliveries of `rule` on `bus` started `seconds` after their events were ingested."""
            if histogram is not None:
                # not cached across calls: a dropped series must be made anew
                observe_many(histogram.labels(bus, rule), seconds, count)

        self.sink = DeliverySink(
            redis,
            keys,
            arns,
            clock=clock,
            observe_start=observe,
            inline=inline,
            backlog_limit=settings.ingest_backlog_limit_events,
            internal=state.extras.get("internal_targets") or {},
        )
        settle = redis.register_script(SETTLE)

        async def run_settle(keys_: list[str], args: list[Any]) -> Any:
            return await settle(keys=keys_, args=args)

        self.context = LaneContext(
            transports=transports,
            dlq=queue,
            settle=run_settle,
            consumer=consumer_name(),
            group=DELIVERY_GROUP,
            counters_key=keys.bus_counters,
            retries_key=keys.delivery_retries,
            rule_arn=keys.rule_arn,
            clock=clock,
            backoff=backoff or Backoff(),
            batch_size=batch_size,
            concurrency=settings.delivery_concurrency_per_target,
            observe_start=observe,
        )
        opts = options or WorkerOptions(visibility_timeout_s=settings.delivery_visibility_timeout_s)
        self.worker = DeliveryWorker(redis, keys, self.context, opts)
        self.sink.on_lanes = self.worker.lanes_added

    def _store(self) -> ConnectionStore:
        from router.api.connections import store

        return store(self.state)

    def auth(self) -> ConnectionAuth:
        """The process's ConnectionAuth (router.api.connections' start-up hook registers it)."""
        from router.api.connections import AUTH

        found = self.state.extras.get(AUTH)
        if found is None:
            if self._auth is None:
                self._auth = ConnectionAuth(self._store())
            return self._auth
        assert isinstance(found, ConnectionAuth)
        return found

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.client.aclose()
        if self._auth is not None:
            await self._auth.aclose()


class _LazyAuth:
    """Resolves the ConnectionAuth at call time: the connections module's start-up hook runs after create_app."""

    def __init__(self, delivery: Delivery) -> None:
        self._delivery = delivery

    async def authorize(self, connection_arn: str) -> Authorization:
        return await self._delivery.auth().authorize(connection_arn)

    def invalidate(self, connection_arn: str) -> None:
        self._delivery.auth().invalidate(connection_arn)
