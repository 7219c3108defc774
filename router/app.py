"""The starlette application: `/health`, `/metrics`, and every AWS protocol on the same port (router.services).

`create_app` wires one `AppState` (settings, the bounded Redis command client from `router.redis_client`: a
`RedisCluster` when REDIS_URL names a cluster node, key layout) into a `Dispatcher` whose handlers are discovered
from `router.api` and from the installed extensions (router.extensions: archives, schemas, sagas plug in there, with
their routes and hooks). The lifespan runs, in order: the handler modules' start-up hooks (the `default` bus), the
extensions' start-up hooks, the declarative config if one was given, then the ingest worker (`router.ingest`), the
delivery worker (`router.delivery`, whose sink the ingest worker feeds) and the timer runner (`router.timers`:
handlers for each owner kind are registered in `state.extras["timer_runner"]` by start-up hooks); shut-down runs in
reverse. Process metrics (`router.metrics`) observe every request through `Dispatcher.observers`.

`POST /` (any method, in fact) with `X-Amz-Target: AWSEvents.*` goes straight to the EventBridge dispatcher's ASGI
app (`_Router.__call__`): starlette's middleware, route matching and `Services` would hand it to that same app (no
route but the services mount matches `/`), for less CPU per request.

Every other request goes to `router.services.Services`, where each served AWS API is mounted with one line (the
EventBridge `Dispatcher` answers `X-Amz-Target: AWSEvents.*`, router.sqs `AmazonSQS.*`); requests for services that
are not served get an error in their own protocol that says so.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from router import api, redis_client, sqs, ui
from router.delivery import Delivery
from router.extensions import EntryCheckCache, Extension, installed, merge_internal_targets, merge_operations
from router.faults import fault_class, log_fault
from router.health import check as health_check
from router.ingest import IngestWorker, WorkerOptions
from router.keys import Keys
from router.matchers import MatcherCache
from router.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from router.metrics import Metrics
from router.model import operation_names
from router.protocol import Dispatcher, Validator
from router.schedules import scheduled_rules, scheduler
from router.schedules.scheduler.protocol import scheduler_model
from router.services import Service, Services
from router.settings import Settings
from router.state import AppState
from router.timers import Clock, RedisClock, RunnerOptions, SystemClock, TimerRunner, Timers

log = logging.getLogger("switchboard.app")


def create_app(
    settings: Settings,
    redis: redis_client.AnyRedis | None = None,
    *,
    config: Any = None,
    ingest: bool = True,
    worker_options: WorkerOptions | None = None,
    delivery: Callable[[AppState], Delivery] | None = None,
    extensions: Sequence[Extension] | None = None,
) -> Starlette:
    """The app. `config` is a loaded `router.config.ConfigSet` to apply at start; `ingest=False` runs no worker.

    `delivery` builds the delivery stage from the state (tests pass one with a fast clock or backoff).
    `extensions` defaults to every installed one (router.extensions); tests pass an explicit list."""
    if redis is None:
        if settings.redis_url is None:
            raise ValueError("create_app needs a Redis client or settings.redis_url")
        redis = redis_client.connect(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            socket_timeout=settings.redis_socket_timeout_s,
            socket_connect_timeout=settings.redis_connect_timeout_s,
            client_name=f"switchboard:{os.getpid()}:commands",
        )
    state = AppState(settings=settings, redis=redis, keys=Keys(settings.key_prefix))
    loaded = list(installed() if extensions is None else extensions)
    state.extras["extensions"] = loaded
    state.extras[ui.EXTRAS_KEY] = [link for extension in loaded for link in extension.ui_links]
    state.extras["internal_targets"] = merge_internal_targets(loaded)
    entry_checks = [factory for extension in loaded for factory in extension.entry_checks]
    if entry_checks:
        state.extras["entry_checks"] = EntryCheckCache(entry_checks)
    dispatcher = Dispatcher(state, merge_operations(api.discover(), loaded), operation_names(), _validator())
    dispatcher.namespace_hooks = api.discover_namespace_hooks()
    metrics = Metrics()
    state.extras["metrics"] = metrics
    dispatcher.observers.append(metrics.observe_request)
    matchers = MatcherCache(state.redis, state.keys, settings.rules_refresh_interval_s)
    deliveries = (delivery or Delivery)(state)
    state.extras["delivery"] = deliveries
    worker = IngestWorker(state.redis, state.keys, matchers, sink=deliveries.sink, options=worker_options)
    state.extras["matchers"] = matchers
    state.extras["ingest_worker"] = worker
    timers = Timers(state.redis, state.keys)
    timer_runner = TimerRunner(timers, _timer_clock(state), options=_runner_options(settings))
    state.extras["timers"] = timers
    state.extras["timer_runner"] = timer_runner
    scheduled_rules.install(state)
    scheduler.install(state)

    # -- /health and /metrics (front door): they report the fault class, never the Redis address ---------------
    async def health(request: Request) -> Response:
        status, body = await health_check(state.redis)  # router.health: every master of a cluster
        return JSONResponse(body, status_code=status)

    async def metrics_endpoint(request: Request) -> Response:
        try:
            body = await metrics.render(state)
        except Exception as err:  # a scrape reports, it never raises
            log_fault(log, "metrics scrape", err)
            text = f"# metrics unavailable: storage {fault_class(err) or 'error'}\n"
            return Response(text, status_code=503, media_type=METRICS_CONTENT_TYPE)
        return Response(body, media_type=METRICS_CONTENT_TYPE)

    services = Services()
    services.mount(Service("events", "Amazon EventBridge", dispatcher.asgi, targets=("AWSEvents",)))
    services.mount(sqs.create_service(state))
    state.extras["sqs"].observers.append(metrics.observe_request)
    # bounded metric labels (front door): operations the port serves or models; the rest count as `Unknown`
    sqs_dispatcher = state.extras["sqs"]
    metrics.allow_operations(set(dispatcher.handlers) | dispatcher.model_operations)
    metrics.allow_operations(set(sqs_dispatcher.handlers) | sqs_dispatcher.model_operations)
    metrics.allow_operations(f"scheduler.{name}" for name in scheduler_model().operation_names)
    services.mount(scheduler.service())
    for extension in loaded:
        for service in extension.services:
            services.mount(service)
    state.extras["services"] = services

    startup_hooks, shutdown_hooks = api.discover_hooks()
    startup_hooks.append(scheduler.on_startup)
    startup_hooks += [hook for extension in loaded for hook in extension.startup]
    shutdown_hooks += [hook for extension in loaded for hook in extension.shutdown]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for hook in startup_hooks:
            await hook(state)
        try:
            if config is not None:
                from router.config import apply

                await apply(config, dispatcher)
            if ingest:
                await worker.start()
                await deliveries.start()
                await scheduled_rules.reconcile(state)
                await timer_runner.start()
            yield
        finally:
            await timer_runner.stop()
            await state.extras["sqs_waiters"].stop()
            await deliveries.stop()
            await worker.stop()
            matchers.close()
            for hook in reversed(shutdown_hooks):
                await hook(state)
            await state.redis.aclose()

    app = _Router(
        dispatcher.asgi,
        routes=[
            *(route for extension in loaded for route in extension.routes),
            *ui.routes(),
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Mount("", app=services),
        ],
        lifespan=lifespan,
    )
    app.state.switchboard = state
    app.state.dispatcher = dispatcher
    app.state.services = services
    return app


class _Router(Starlette):
    """The starlette app, with the EventBridge fast path in front of its middleware and routes."""

    def __init__(self, events: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/":
            for name, value in scope["headers"]:
                if name == b"x-amz-target":
                    if value.startswith(b"AWSEvents."):
                        await self._events(scope, receive, send)
                        return
                    break
        await super().__call__(scope, receive, send)


def _timer_clock(state: AppState) -> Clock:
    if state.settings.timer_clock == "redis":
        return RedisClock(state.redis, state.keys.test_clock)
    return SystemClock()


def _runner_options(settings: Settings) -> RunnerOptions:
    return RunnerOptions(poll_interval_s=settings.timer_poll_interval_s, lease_ms=int(settings.timer_lease_s * 1000))


def _validator() -> Validator | None:
    """The model-driven input validator (`router.validation.validate_input`), once that module exists."""
    try:
        module = importlib.import_module("router.validation")
    except ModuleNotFoundError:
        return None
    validator: Validator = module.validate_input
    return validator
