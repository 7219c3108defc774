"""Extensions plug operations, routes and hooks into the app without the router importing their packages."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import httpx
import orjson
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from router.app import create_app
from router.extensions import ENTRY_POINT_GROUP, Extension, ExtensionError, installed, merge_operations
from router.state import AppState
from tests.router.conftest import make_settings


async def _echo(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    return {"Echo": body.get("Value"), "Started": state.extras.get("demo-started", False)}


def _demo_extension(log: list[str]) -> Extension:
    async def start(state: AppState) -> None:
        log.append("start")
        state.extras["demo-started"] = True

    async def stop(state: AppState) -> None:
        log.append("stop")

    async def page(request: Request) -> Response:
        return PlainTextResponse("demo page")

    return Extension(
        name="demo",
        operations={"DescribeArchive": _echo},
        routes=[Route("/ui/demo", page, methods=["GET"])],
        startup=[start],
        shutdown=[stop],
    )


def _entry(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def factory() -> Extension:
    """An entry-point target for the loader tests."""
    return Extension(name="from-entry-point")


def not_an_extension() -> object:
    return object()


def test_installed_loads_entry_points_in_name_order() -> None:
    entries = [_entry("zeta", f"{__name__}:factory"), _entry("alpha", f"{__name__}:factory")]
    loaded = installed(lambda: entries)
    assert [e.name for e in loaded] == ["from-entry-point", "from-entry-point"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"{__name__}:missing", "extension broken (tests.router.test_extensions:missing) could not be loaded"),
        (f"{__name__}:not_an_extension", "extension broken (tests.router.test_extensions:not_an_extension) did not"),
    ],
)
def test_installed_reports_a_broken_extension(value: str, message: str) -> None:
    with pytest.raises(ExtensionError) as caught:
        installed(lambda: [_entry("broken", value)])
    assert str(caught.value).startswith(message)


def test_an_operation_served_twice_is_refused() -> None:
    base = {"PutEvents": _echo}
    with pytest.raises(ExtensionError, match="operation PutEvents is served by both router and demo"):
        merge_operations(base, [Extension(name="demo", operations={"PutEvents": _echo})])
    one, two = Extension(name="one", operations={"X": _echo}), Extension(name="two", operations={"X": _echo})
    with pytest.raises(ExtensionError, match="operation X is served by both one and two"):
        merge_operations(base, [one, two])
    assert merge_operations(base, [one]) == {"PutEvents": _echo, "X": _echo}


@pytest.mark.integration
async def test_an_extension_serves_its_operation_route_and_hooks(redis_url: str) -> None:
    log: list[str] = []
    app = create_app(make_settings(redis_url), ingest=False, extensions=[_demo_extension(log)])
    async with app.router.lifespan_context(app):
        assert log == ["start"]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            response = await client.post(
                "/",
                content=orjson.dumps({"ArchiveName": "a", "Value": 7}),
                headers={"X-Amz-Target": "AWSEvents.DescribeArchive", "Content-Type": "application/x-amz-json-1.1"},
            )
            assert response.status_code == 200, response.text
            assert orjson.loads(response.content) == {"Echo": 7, "Started": True}
            page = await client.get("/ui/demo")
            assert (page.status_code, page.text) == (200, "demo page")
    assert log == ["start", "stop"]


@pytest.mark.integration
async def test_without_extensions_the_operation_stays_unsupported(redis_url: str) -> None:
    app = create_app(make_settings(redis_url), ingest=False, extensions=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            response = await client.post(
                "/",
                content=b"{}",
                headers={"X-Amz-Target": "AWSEvents.DescribeArchive", "Content-Type": "application/x-amz-json-1.1"},
            )
    assert response.status_code == 400
    assert orjson.loads(response.content)["__type"] == "UnsupportedOperationException"


async def test_entry_checks_are_cached_per_bus_for_their_ttl() -> None:
    from collections.abc import Mapping

    from router.extensions import EntryCheck, EntryCheckCache

    now = [0.0]
    asked: list[str] = []

    def refuse(entry: Mapping[str, Any]) -> tuple[str, str] | None:
        return ("InvalidArgument", "no") if entry.get("bad") else None

    async def factory(state: AppState, bus: str) -> EntryCheck | None:
        asked.append(bus)
        return refuse if bus == "checked" else None

    cache = EntryCheckCache([factory], ttl_s=1.0, clock=lambda: now[0])
    state: Any = None
    assert await cache.check(state, "checked", {"bad": True}) == ("InvalidArgument", "no")
    assert await cache.check(state, "checked", {}) is None
    assert await cache.check(state, "open", {"bad": True}) is None
    assert asked == ["checked", "open"]
    now[0] = 1.5
    await cache.check(state, "checked", {})
    assert asked == ["checked", "open", "checked"]


async def test_entry_checks_that_cannot_be_read_fail_the_entries_retryably_and_are_read_again() -> None:
    """Redis unreachable while a bus's checks are read: that bus's entries fail with InternalFailure (PutEvents'
    per-entry retryable error, never a failed call), nothing is cached, and the next entry reads the checks again."""
    import redis.exceptions

    from router.extensions import EntryCheck, EntryCheckCache

    down = [True]
    asked = [0]

    async def factory(state: AppState, bus: str) -> EntryCheck | None:
        asked[0] += 1
        if down[0]:
            raise redis.exceptions.ConnectionError("Error 111 connecting")
        return None

    cache = EntryCheckCache([factory], ttl_s=60.0, clock=lambda: 0.0)
    state: Any = None
    assert await cache.check(state, "b", {}) == ("InternalFailure", "The event could not be stored. Retry the entry.")
    down[0] = False
    assert await cache.check(state, "b", {}) is None
    assert asked[0] == 2


async def test_callers_that_find_a_bus_checks_expired_together_share_one_read() -> None:
    """32 PutEvents requests in flight when a bus's checks expire: one read of the checks, not 32; a caller that
    is cancelled while it waits does not cancel the read the others wait on."""
    import asyncio

    from router.extensions import EntryCheck, EntryCheckCache

    release = asyncio.Event()
    asked = [0]

    async def factory(state: AppState, bus: str) -> EntryCheck | None:
        asked[0] += 1
        await release.wait()
        return None

    cache = EntryCheckCache([factory], ttl_s=1.0, clock=lambda: 0.0)
    state: Any = None
    waiters = [asyncio.create_task(cache.checks(state, "b")) for _ in range(32)]
    await asyncio.sleep(0)
    waiters[0].cancel()
    release.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert isinstance(outcomes[0], asyncio.CancelledError)
    assert outcomes[1:] == [()] * 31
    assert asked[0] == 1
    assert cache.reads == 1
    assert await cache.checks(state, "b") == ()  # cached now
    assert asked[0] == 1
