"""Fixtures for the service: the app in process (httpx over ASGI, lifespan run), and a real uvicorn server on
127.0.0.1 with a real boto3 `events` client pointed at it. Both use the session's real redis-server."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette

from router.app import create_app
from router.settings import Settings
from tests.conftest import free_port


def make_settings(redis_url: str, **overrides: Any) -> Settings:
    return Settings(redis_url=redis_url, **overrides)


class Api:
    """Calls operations on the in-process app the way an SDK would, over ASGI."""

    def __init__(self, client: httpx.AsyncClient, app: Starlette) -> None:
        self.client = client
        self.app = app

    async def raw(self, operation: str, body: bytes | str, headers: dict[str, str] | None = None) -> httpx.Response:
        h = {"X-Amz-Target": f"AWSEvents.{operation}", "Content-Type": "application/x-amz-json-1.1"}
        h.update(headers or {})
        return await self.client.post("/", content=body, headers=h)

    async def call(self, operation: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.raw(operation, orjson.dumps(body or {}))

    async def ok(self, operation: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call and expect 200; return the parsed body ({} for an empty body)."""
        response = await self.call(operation, body)
        assert response.status_code == 200, response.text
        return orjson.loads(response.content) if response.content else {}

    async def error(self, operation: str, body: dict[str, Any] | None = None) -> tuple[int, str, str]:
        """Call and expect an error; return (status, __type, message)."""
        response = await self.call(operation, body)
        assert response.status_code != 200, response.text
        parsed = orjson.loads(response.content)
        return response.status_code, parsed["__type"], parsed["message"]


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[Api]:
    """`app` in process, its lifespan run (start-up and shutdown), called over ASGI as an SDK would."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            yield Api(client, app)


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    async with serving(create_app(make_settings(redis_url))) as api:
        yield api


class ServerThread:
    """A real uvicorn server on 127.0.0.1, in a background thread of the test process."""

    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def server(redis_url: str) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(make_settings(redis_url)))
    srv.start()
    yield srv
    srv.stop()


def boto3_client(
    url: str,
    service: str = "events",
    *,
    region: str = "us-east-1",
    access_key: str = "testing",
    read_timeout_s: float = 60,
) -> Any:
    """A real boto3 client for `service` at `url`, signing for `region` with the access key id `access_key` (a
    12-digit key id makes the router take it as the account id), one attempt per call (the one way tests make
    one: imports boto3 only when called, so the unit tier never loads it)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=read_timeout_s),
    )


@pytest.fixture
def events_client(server: ServerThread) -> Any:
    """A real boto3 EventBridge client talking to the real server."""
    return boto3_client(server.url)
