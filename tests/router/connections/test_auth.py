"""OAuth token fetches (router.connections.auth): concurrent callers share one fetch; a fetch has one deadline in
total and reads a bounded answer, against hostile token endpoints."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from router.api.connections import store
from router.app import create_app
from router.connections.auth import TOKEN_RESPONSE_MAX_BYTES, ConnectionAuth, ConnectionUnauthorized
from router.settings import Settings
from tests.router.conftest import Api, serving
from tests.router.hostile_server import HostileServer

ARN = "arn:aws:events:us-east-1:123456789012:connection/oauth/00000000-0000-0000-0000-000000000000"
OAUTH = {
    "OAuthParameters": {
        "ClientParameters": {"ClientID": "id", "ClientSecret": "secret"},
        "AuthorizationEndpoint": "https://auth.example/token",
        "HttpMethod": "POST",
    }
}


class _Store:
    """The three reads and writes ConnectionAuth makes, in memory (the locking is what is under test here)."""

    def __init__(self) -> None:
        self.states: list[str] = []

    def for_arn(self, arn: str) -> _Store:
        return self  # one namespace

    async def connection_by_arn(self, arn: str) -> dict[str, Any]:
        return {"Name": "oauth", "ConnectionArn": arn, "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS",
                "ConnectionState": "AUTHORIZED"}  # fmt: skip

    async def connection_secrets(self, name: str) -> dict[str, Any]:
        return OAUTH

    async def set_connection_state(self, name: str, state: str, reason: str | None = None) -> None:
        self.states.append(state)


async def test_concurrent_callers_share_one_token_fetch() -> None:
    fetches = 0

    async def token_endpoint(request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0.05)  # long enough for every caller to arrive while the fetch is in flight
        return httpx.Response(200, json={"access_token": f"t{fetches}", "expires_in": 3600})

    client = httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint))
    auth = ConnectionAuth(_Store(), client)  # type: ignore[arg-type]
    try:
        results = await asyncio.gather(*(auth.authorize(ARN) for _ in range(20)))
    finally:
        await auth.aclose()
    assert fetches == 1
    assert {r.headers["Authorization"] for r in results} == {"Bearer t1"}


async def test_concurrent_callers_share_one_failed_fetch_then_retry() -> None:
    fetches = 0

    async def token_endpoint(request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0.05)
        return httpx.Response(500 if fetches == 1 else 200, json={"access_token": "ok"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint))
    store_ = _Store()
    auth = ConnectionAuth(store_, client)  # type: ignore[arg-type]
    try:
        first = await asyncio.gather(auth.authorize(ARN), return_exceptions=True)
        assert isinstance(first[0], ConnectionUnauthorized)
        results = await asyncio.gather(*(auth.authorize(ARN) for _ in range(10)))
    finally:
        await auth.aclose()
    assert fetches == 2  # one failure, then one fetch for the ten callers that came after it
    assert {r.headers["Authorization"] for r in results} == {"Bearer ok"}
    assert store_.states == ["DEAUTHORIZED"]


# --- against real servers --------------------------------------------------------------------------------


@pytest.fixture
async def api(redis_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    app = create_app(Settings(redis_url=redis_url, data_dir=tmp_path))
    async with serving(app) as api:
        yield api


async def _oauth_connection(api: Api, endpoint: str) -> str:
    body = {"Name": "oauth", "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS", "AuthParameters": OAUTH}
    body = orjson.loads(orjson.dumps(body).replace(b"https://auth.example/token", endpoint.encode()))
    return str((await api.ok("CreateConnection", body))["ConnectionArn"])


@pytest.mark.integration
async def test_a_dripping_token_endpoint_is_cut_at_the_deadline(api: Api) -> None:
    token = b'{"access_token":"late","expires_in":3600}'
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(token), token)
    server = HostileServer("drip", answer, interval_s=0.1)  # 12 s in all, 0.1 s between bytes
    arn = await _oauth_connection(api, f"{server.url}/token")
    auth = ConnectionAuth(store(api.app.state.switchboard), timeout_s=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(ConnectionUnauthorized) as raised:
            await auth.authorize(arn)
        elapsed = time.monotonic() - started
    finally:
        await auth.aclose()
        server.stop()
    assert elapsed < 1.8
    assert str(raised.value) == "Authorization endpoint did not answer within 1 s."
    described = await api.ok("DescribeConnection", {"Name": "oauth"})
    assert (described["ConnectionState"], described["StateReason"]) == ("DEAUTHORIZED", str(raised.value))


@pytest.mark.integration
async def test_a_huge_token_answer_is_refused_without_reading_it(api: Api) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 300000000\r\n\r\n"
    server = HostileServer("flood", head, flood_bytes=100 * 1024 * 1024)
    arn = await _oauth_connection(api, f"{server.url}/token")
    auth = ConnectionAuth(store(api.app.state.switchboard))
    try:
        started = time.monotonic()
        with pytest.raises(ConnectionUnauthorized) as raised:
            await auth.authorize(arn)
        elapsed = time.monotonic() - started
        assert server.hung_up.wait(5)
    finally:
        await auth.aclose()
        server.stop()
    assert elapsed < 2.0
    assert str(raised.value) == f"Authorization endpoint answered with more than {TOKEN_RESPONSE_MAX_BYTES} bytes."
    assert server.written < 32 * 1024 * 1024
