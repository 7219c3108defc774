"""router.front_door's one-write cycle, in process: a response of known length leaves in one transport write (head
and body together), a streamed one as uvicorn writes it, a closing connection is written before it is closed, and a
HEAD answer (no body write) still sends its head. The transport is a recorder: what is checked is the calls made
on it, which a socket would not show (TCP may merge or split writes)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from router.front_door import _OneWriteCycle


class Recorder:
    """The transport methods a response cycle calls, recorded in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _cycle(
    transport: Recorder,
    *,
    method: str = "POST",
    keep_alive: bool = True,
    kind: type[RequestResponseCycle] = _OneWriteCycle,
    completed: list[bool] | None = None,
) -> Any:
    scope: Any = {"type": "http", "method": method, "http_version": "1.1", "path": "/", "headers": []}
    completed = [] if completed is None else completed
    return kind(
        scope=scope,
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[(b"server", b"test")],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: completed.append(True),
    )


START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
HEAD = b"HTTP/1.1 200 OK\r\nserver: test\r\ncontent-length: 5\r\n\r\n"


async def test_a_response_of_known_length_is_one_write() -> None:
    transport = Recorder()
    cycle = _cycle(transport)
    await cycle.send(START)
    assert transport.calls == []  # held until the body comes
    await cycle.send({"type": "http.response.body", "body": b"hello"})
    assert transport.calls == [("write", HEAD + b"hello")]
    assert cycle.response_complete


async def test_a_body_in_several_messages_starts_with_one_write() -> None:
    transport = Recorder()
    cycle = _cycle(transport)
    await cycle.send(START)
    await cycle.send({"type": "http.response.body", "body": b"he", "more_body": True})
    await cycle.send({"type": "http.response.body", "body": b"llo"})
    assert transport.calls == [("write", HEAD + b"he"), ("write", b"llo")]


async def test_a_streamed_response_is_written_as_uvicorn_writes_it() -> None:
    transport = Recorder()
    cycle = _cycle(transport)
    await cycle.send({"type": "http.response.start", "status": 200, "headers": []})  # no length: chunked
    assert transport.calls == [("write", b"HTTP/1.1 200 OK\r\nserver: test\r\ntransfer-encoding: chunked\r\n\r\n")]
    await cycle.send({"type": "http.response.body", "body": b"hi"})
    assert transport.calls[1:] == [("write", b"2\r\nhi\r\n0\r\n\r\n")]


async def test_a_closing_connection_is_written_then_closed() -> None:
    transport = Recorder()
    cycle = _cycle(transport, keep_alive=False)
    await cycle.send(START)
    await cycle.send({"type": "http.response.body", "body": b"hello"})
    head = HEAD.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n")
    assert transport.calls == [("write", head + b"hello"), ("close", b"")]


async def test_a_head_answer_sends_its_head() -> None:
    transport = Recorder()
    cycle = _cycle(transport, method="HEAD")
    await cycle.send(START)
    await cycle.send({"type": "http.response.body", "body": b""})
    assert transport.calls == [("write", HEAD)]


async def test_an_error_answer_after_a_held_start_replaces_it() -> None:
    """An app that started a response and failed before its body: uvicorn sends its 500 instead, whole."""
    transport = Recorder()
    cycle = _cycle(transport)
    await cycle.send(START)
    await cycle.send_500_response()
    assert len(transport.calls) == 2  # the 500 in one write, then the close uvicorn asks for
    assert transport.calls[0][1].startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert transport.calls[0][1].endswith(b"\r\n\r\nInternal Server Error")
    assert transport.calls[1] == ("close", b"")


@pytest.mark.parametrize("keep_alive", [True, False])
@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (200, [(b"content-length", b"5"), (b"content-type", b"application/x-amz-json-1.1")], b"hello"),
        (400, [(b"Content-Length", b"2"), (b"X-Amzn-RequestId", b"abc")], b"{}"),
        (200, [(b"content-length", b"0")], b""),
        (204, [(b"content-length", b"0"), (b"date", b"Wed, 02 Dec 2026 16:00:00 GMT")], b""),
    ],
)
async def test_the_direct_write_is_the_bytes_and_state_uvicorns_send_makes(
    status: int, headers: list[tuple[bytes, bytes]], body: bytes, keep_alive: bool
) -> None:
    outcomes = []
    for kind in (RequestResponseCycle, _OneWriteCycle):
        transport, completed = Recorder(), list[bool]()
        cycle = _cycle(transport, keep_alive=keep_alive, kind=kind, completed=completed)
        await cycle.send({"type": "http.response.start", "status": status, "headers": headers})
        await cycle.send({"type": "http.response.body", "body": body})
        written = b"".join(data for call, data in transport.calls if call == "write")
        closes = [call for call, _ in transport.calls if call == "close"]
        state = (cycle.response_started, cycle.response_complete, cycle.message_event.is_set(), completed)
        outcomes.append((written, closes, state))
        if kind is _OneWriteCycle:
            assert [call for call, _ in transport.calls].count("write") == 1
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", b"4")],  # longer than the body: uvicorn's error
        [(b"content-length", b"5"), (b"connection", b"close")],
        [(b"content-length", b"5"), (b"bad header", b"x")],
    ],
)
async def test_what_the_direct_write_does_not_handle_goes_through_uvicorns_send(
    headers: list[tuple[bytes, bytes]],
) -> None:
    outcomes: list[tuple[str, str | bytes, bool]] = []
    for kind in (RequestResponseCycle, _OneWriteCycle):
        transport = Recorder()
        cycle = _cycle(transport, kind=kind)
        try:
            await cycle.send({"type": "http.response.start", "status": 200, "headers": headers})
            await cycle.send({"type": "http.response.body", "body": b"hello"})
        except RuntimeError as err:
            outcomes.append(("error", str(err), cycle.response_complete))
        else:
            written = b"".join(data for call, data in transport.calls if call == "write")
            outcomes.append(("written", written, cycle.response_complete))
    assert outcomes[0] == outcomes[1]
