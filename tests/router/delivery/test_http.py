"""One HTTP delivery attempt (router.delivery.http) against hostile servers: one deadline for the whole attempt
however slowly the server drips, and at most a small prefix of any response body read. The unit tests check the
same through httpx's MockTransport (no server); the integration tests against real sockets."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from router.delivery.http import RESPONSE_PREFIX_BYTES, TIMEOUT_S, new_client, send
from tests.router.hostile_server import HostileServer

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 300000000\r\n\r\n"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with new_client() as http:
        yield http


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
async def test_header_values_are_sent_as_utf8(client: httpx.AsyncClient) -> None:
    server = HostileServer("flood", b"HTTP/1.1 204 No Content\r\n\r\n", flood_bytes=0)
    try:
        sent = await send(client, "POST", server.url, content=b"{}", headers={"X-Name": "Zoë"})
    finally:
        server.stop()
    assert sent.failure is None
    assert "x-name: zoë".encode() in server.requests[0].lower()


# --- the same without a server ---------------------------------------------------------------------------


class _Body(httpx.AsyncByteStream):
    """A response body that yields `chunk` every `interval_s`, `count` times, counting what it yielded."""

    def __init__(self, chunk: bytes, count: int, interval_s: float = 0.0) -> None:
        self.chunk, self.count, self.interval_s = chunk, count, interval_s
        self.yielded = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            if self.interval_s:
                await asyncio.sleep(self.interval_s)
            self.yielded += 1
            yield self.chunk


def _mock(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_unit_no_answer_within_the_deadline_is_a_timeout() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    async with _mock(handler) as http:
        started = time.monotonic()
        sent = await send(http, "POST", "https://h.example/x?secret=s3", content=b"{}", headers={}, timeout_s=0.1)
    assert time.monotonic() - started < 1.0
    assert sent.failure is not None
    assert (sent.failure.code, sent.failure.retryable) == ("TIMEOUT", True)
    assert sent.failure.message == "POST https://h.example/x timed out after 0.1 s"  # no query string


async def test_unit_a_dripping_body_does_not_hold_the_attempt_and_the_status_decides() -> None:
    body = _Body(b"x", 1_000, interval_s=0.05)  # 50 s of body
    async with _mock(lambda request: httpx.Response(202, stream=body)) as http:
        started = time.monotonic()
        sent = await send(http, "POST", "https://h.example/x", content=b"{}", headers={}, timeout_s=0.1)
    assert time.monotonic() - started < 1.0
    assert (sent.status, sent.failure) == (202, None)


async def test_unit_only_a_prefix_of_a_huge_body_is_read() -> None:
    body = _Body(b"\0" * 4096, 25_600)  # 100 MiB
    async with _mock(lambda request: httpx.Response(500, stream=body)) as http:
        sent = await send(http, "POST", "https://h.example/x", content=b"{}", headers={})
    assert sent.status == 500
    assert body.yielded * 4096 <= RESPONSE_PREFIX_BYTES + 4096


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        (httpx.LocalProtocolError("Illegal header value b'secret-value\\r\\n'"), "CLIENT_ERROR", False),
        (httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'file://'."), "NO_RESOURCE", False),
        (httpx.ConnectError("All connection attempts failed"), "CONNECTION_ERROR", True),
    ],
)
async def test_unit_errors_are_classified_and_never_echo_the_request(
    error: Exception, code: str, retryable: bool
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    async with _mock(handler) as http:
        sent = await send(http, "POST", "https://h.example/x", content=b"{}", headers={}, params={"k": "secret-q"})
    assert sent.failure is not None
    assert (sent.failure.code, sent.failure.retryable) == (code, retryable)
    assert "secret" not in sent.failure.message
