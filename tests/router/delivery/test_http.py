"""One HTTP delivery attempt (router.delivery.http) against hostile servers: one deadline for the whole attempt
however slowly the server drips, and at most a small prefix of any response body read."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import AsyncIterator

import httpx
import pytest

from router.delivery.http import RESPONSE_PREFIX_BYTES, TIMEOUT_S, new_client, send
from tests.router.hostile_server import HostileServer

pytestmark = pytest.mark.integration

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 300000000\r\n\r\n"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with new_client() as http:
        yield http


async def test_a_status_line_dripping_a_byte_a_second_is_cut_at_the_deadline(client: httpx.AsyncClient) -> None:
    # Each byte comes well within httpx's 5 s read timeout, so only a deadline for the whole attempt can end it;
    # the whole answer would take 40 s.
    server = HostileServer("drip", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", interval_s=1.0)
    try:
        started = time.monotonic()
        sent = await send(client, "POST", f"{server.url}/hook", content=b"{}", headers={})
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert sent.status is None
    assert sent.failure is not None
    assert (sent.failure.code, sent.failure.retryable) == ("TIMEOUT", True)
    assert sent.failure.message == f"POST {server.url}/hook timed out after {TIMEOUT_S:g} s"
    assert TIMEOUT_S - 0.5 < elapsed < TIMEOUT_S + 1.5


async def test_a_dripping_body_after_the_status_ends_at_the_deadline_and_the_status_decides(
    client: httpx.AsyncClient,
) -> None:
    head = b"HTTP/1.1 503 Unavailable\r\nContent-Length: 100\r\nRetry-After: 7\r\n\r\n"
    server = HostileServer("drip", head + b"x" * 100, at_once=len(head), interval_s=0.1)
    try:
        started = time.monotonic()
        sent = await send(client, "POST", server.url, content=None, headers={}, timeout_s=1.0)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert elapsed < 1.8
    assert sent.status == 503
    assert sent.failure is not None
    assert (sent.failure.code, sent.failure.retryable, sent.failure.retry_after_s) == ("SERVER_ERROR", True, 7.0)


async def test_a_huge_response_body_is_not_read(client: httpx.AsyncClient) -> None:
    server = HostileServer("flood", OK_HEAD, flood_bytes=100 * 1024 * 1024)
    tracemalloc.start()
    try:
        started = time.monotonic()
        sent = await send(client, "POST", server.url, content=b"{}", headers={})
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        assert server.hung_up.wait(5), "the client never hung up"
    finally:
        tracemalloc.stop()
        server.stop()
    assert sent.status == 200
    assert sent.failure is None
    assert elapsed < 2.0
    assert peak < 4 * 1024 * 1024  # the prefix and a read buffer, not 100 MB
    assert server.written < 32 * 1024 * 1024  # what the socket buffers took before the client closed
    assert RESPONSE_PREFIX_BYTES <= 65536


async def test_header_values_are_sent_as_utf8(client: httpx.AsyncClient) -> None:
    server = HostileServer("flood", b"HTTP/1.1 204 No Content\r\n\r\n", flood_bytes=0)
    try:
        sent = await send(client, "POST", server.url, content=b"{}", headers={"X-Name": "Zoë"})
    finally:
        server.stop()
    assert sent.failure is None
    assert "x-name: zoë".encode() in server.requests[0].lower()
