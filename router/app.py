"""The starlette application: the EventBridge wire endpoint on `POST /`, plus `/health`.

`create_app` wires one `AppState` (settings, Redis client, key layout) into a `Dispatcher` whose handlers are
discovered from `router.api`. Long-running services (the ingest worker, metrics) are started in the lifespan.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router import api
from router.keys import Keys
from router.model import operation_names
from router.protocol import Dispatcher, Validator
from router.settings import Settings
from router.state import AppState


def create_app(settings: Settings, redis: aioredis.Redis | None = None) -> Starlette:
    if redis is None:
        if settings.redis_url is None:
            raise ValueError("create_app needs a Redis client or settings.redis_url")
        redis = aioredis.Redis.from_url(settings.redis_url)
    state = AppState(settings=settings, redis=redis, keys=Keys(settings.key_prefix))
    dispatcher = Dispatcher(state, api.discover(), operation_names(), _validator())

    async def health(request: Request) -> Response:
        try:
            await state.redis.ping()
        except Exception as err:  # health reports, it never raises
            return JSONResponse({"status": "unavailable", "redis": str(err)}, status_code=503)
        return JSONResponse({"status": "ok"})

    startup_hooks, shutdown_hooks = api.discover_hooks()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for hook in startup_hooks:
            await hook(state)
        try:
            yield
        finally:
            for hook in reversed(shutdown_hooks):
                await hook(state)
            await state.redis.aclose()

    app = Starlette(
        routes=[
            Route("/", dispatcher.handle, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.switchboard = state
    app.state.dispatcher = dispatcher
    return app


def _validator() -> Validator | None:
    """The model-driven input validator (`router.validation.validate_input`), once that module exists."""
    try:
        module = importlib.import_module("router.validation")
    except ModuleNotFoundError:
        return None
    validator: Validator = module.validate_input
    return validator
