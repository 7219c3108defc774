"""The HTTP front door: every connection is bounded in number, in time and in header size.

uvicorn (with httptools) holds a connection that never sends a byte forever, lets headers and bodies trickle in as
slowly as the client likes, and accepts as many connections as the process has file descriptors, so idle or slow
clients could take every descriptor and starve the router's own Redis connections. `protocol_class(limits)` is
uvicorn's httptools protocol with those holes closed:

- **Connections**: beyond `max_connections` open connections, a new one is answered at once with 503
  `ServiceUnavailableException` ("Connection: close") and closed, before it can hold anything. router.startup sizes
  `max_connections` below the process's file-descriptor limit, with room kept for Redis and outbound HTTP.
- **Header deadline**: the request line and headers must arrive within `header_timeout_s` of the connection (or of
  the first byte of the next request on a kept-alive connection); a connection that sent nothing is closed
  silently, one that sent part of a request gets 408 `RequestTimeoutException`.
- **Header size**: more than `max_header_bytes` before the headers end gets 431 and the connection is closed.
- **Body deadline**: the body must arrive within `body_timeout_s` of the headers; otherwise 408 and the
  connection is closed (the handler sees a disconnect, router.protocol.ClientDisconnected: no log, no 5xx).
- **Idle keep-alive**: uvicorn's own `timeout_keep_alive` closes a kept-alive connection idle that long.

Error bodies are AWS JSON (`{"__type": ..., "message": ...}`), which every AWS SDK parses; 503 and 408 are
retryable for them. The class counts open connections and each refusal (`stats`), for router.metrics.

**One write per response.** uvicorn writes a response's status line and headers (`http.response.start`) and then
its body (`http.response.body`) with two `transport.write` calls, so two `send` system calls per response; on
loopback each one also runs the receiver's TCP path, and the two were 12% of the router's CPU in the scale bench's
profile. Each request's cycle here holds the head of a response that declares its `content-length` until the body
arrives, and writes both at once (`_OneWriteCycle`); a streamed response (no content-length) is written as uvicorn
writes it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

__all__ = ["REFUSALS", "Limits", "protocol_class"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_connections: int = 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_header_bytes: int = 65_536


def protocol_class(limits: Limits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol bounded by `limits` (pass it as `uvicorn.Config(http=...)`)."""
    return type("FrontDoorProtocol", (_FrontDoorProtocol,), {"limits": limits, "stats": _counters()})


REFUSALS = ("connection_limit", "header_timeout", "body_timeout", "headers_too_large")
"""Why the front door refused or closed a connection: the `reason` label of switchboard_front_door_refused_total."""


def _counters() -> dict[str, int]:
    return {"open": 0, **dict.fromkeys(REFUSALS, 0)}


def _error(status: int, code: str, message: str) -> bytes:
    body = orjson.dumps({"__type": code, "message": message})
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/x-amz-json-1.1\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n",
            b"\r\n",
            body,
        ]
    )


class _HeldHead:
    """A cycle's transport while it writes one response: the first write (the head) is held and sent together with
    the next one (the body), or alone when the cycle closes the connection or finishes without a body write."""

    __slots__ = ("_head", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is None:
            self._head = data
            return
        head, self._head = self._head, b""
        self._transport.write(head + data if head else data)

    def flush(self) -> None:
        if self._head:
            self._transport.write(self._head)
        self._head = b""

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class _OneWriteCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, writing a response of known length (head and body) in one write.

    The common case, a whole body in one message after a start that declares its length, is written here directly,
    with the bytes and state changes uvicorn's `send` makes for it (tests/router/test_front_door_writes.py compares
    them); anything else (HEAD, a streamed body, a paused transport, a `connection` or `transfer-encoding` header, a
    length that does not match) goes through uvicorn's `send`, with its errors."""

    _held_start: Any = None

    async def send(self, message: Any) -> None:
        start = self._held_start
        if start is not None and message["type"] == "http.response.body" and not message.get("more_body", False):
            data = self._whole(start, message.get("body", b""))
            if data is not None:
                self._held_start = None
                self.response_started = True
                self.waiting_for_100_continue = False
                self.response_complete = True
                self.transport.write(data)
                self.message_event.set()
                if not self.keep_alive:
                    self.transport.close()
                self.on_response()
                return
        if (
            message["type"] == "http.response.start"
            and not self.response_started
            and any(name.lower() == b"content-length" for name, _ in message.get("headers", ()))
        ):
            self._held_start = message
            return
        start = self._held_start
        if start is None:
            await super().send(message)
            return
        self._held_start = None
        transport = self.transport
        held = _HeldHead(transport)
        self.transport = held  # type: ignore[assignment]
        try:
            await super().send(start)
            await super().send(message)
        finally:
            self.transport = transport
            held.flush()

    def _whole(self, start: Any, body: bytes) -> bytes | None:
        """The response's bytes as uvicorn writes them (status line, default headers, the start's headers in lower
        case, `connection: close` unless kept alive, the body), or None when uvicorn's `send` must handle it."""
        if self.flow.write_paused or self.disconnected or self.response_started or self.scope["method"] == "HEAD":
            return None
        content = [STATUS_LINE[start["status"]]]
        length = None
        for name, value in (*self.default_headers, *start.get("headers", ())):
            if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
                return None
            lowered = name.lower()
            if lowered == b"content-length":
                if length is not None:
                    return None
                length = value
            elif lowered in {b"connection", b"transfer-encoding"}:
                return None
            content += (lowered, b": ", value, b"\r\n")
        if length != str(len(body)).encode():
            return None
        if not self.keep_alive:
            content.append(b"connection: close\r\n")
        content += (b"\r\n", body)
        return b"".join(content)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a connection the front door has refused."""


class _FrontDoorProtocol(HttpToolsProtocol):
    limits: ClassVar[Limits] = Limits()
    stats: ClassVar[dict[str, int]] = _counters()
    """`open` connections, and a count per refusal reason (REFUSALS), for all connections of this class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        """The connection's one timer, when one is scheduled (at `_timer_at`); it may fire before `_due`."""
        self._timer_at = 0.0
        self._due = 0.0
        self._on_due: Any = None
        """What to call at `_due` (loop time), None when no deadline is armed."""
        self._in_request = False
        """Bytes of a request whose headers have not ended yet were received."""
        self._in_headers = True
        self._header_bytes = 0
        self._parsed_header_bytes = 0

    # -- connections ------------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.stats["open"] += 1
        if len(self.connections) > self.limits.max_connections:
            self.stats["connection_limit"] += 1
            message = (
                f"The router is serving its limit of {self.limits.max_connections} connections; retry the request."
            )
            self._refuse(_error(503, "ServiceUnavailableException", message))
            return
        self._arm(self.limits.header_timeout_s, self._header_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats["open"] -= 1
        self._disarm()
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    def _refuse(self, response: bytes) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    # -- deadlines ----------------------------------------------------------------------------------------------
    # A deadline is armed and disarmed two or three times per request; the timer is not: it stays scheduled at the
    # earliest deadline armed since it was, and when it fires before the deadline now armed (a later one), it is
    # scheduled again for that one. So a kept-alive connection makes a timer every header or body timeout at
    # most, instead of two per request (call_later and cancel were ~2 µs each, per request).
    def _arm(self, seconds: float, callback: Any) -> None:
        self._due = due = self.loop.time() + seconds
        self._on_due = callback
        if self._deadline is None or self._timer_at > due:
            if self._deadline is not None:
                self._deadline.cancel()
            self._timer_at = due
            self._deadline = self.loop.call_at(due, self._timer)

    def _disarm(self) -> None:
        self._on_due = None

    def _timer(self) -> None:
        self._deadline = None
        callback = self._on_due
        if callback is None:
            return
        if self.loop.time() < self._due:  # armed again since, for later
            self._timer_at = self._due
            self._deadline = self.loop.call_at(self._due, self._timer)
            return
        self._on_due = None
        callback()

    def _header_deadline(self) -> None:
        if self.transport.is_closing():
            return
        self.stats["header_timeout"] += 1
        if not self._in_request:  # idle: nothing to answer
            self.transport.close()
            return
        message = f"The request headers did not arrive within {self.limits.header_timeout_s:g} s."
        self._refuse(_error(408, "RequestTimeoutException", message))

    def _body_deadline(self) -> None:
        if self.transport.is_closing():
            return
        self.stats["body_timeout"] += 1
        message = f"The request body did not arrive within {self.limits.body_timeout_s:g} s."
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
        else:
            self._refuse(_error(408, "RequestTimeoutException", message))

    # -- parser callbacks -----------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            self._header_bytes += len(data)
        # uvicorn's data_received, except that a request this class already refused is not reported again as an
        # invalid one when the parser stops on it.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport.is_closing():
                return
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        # Checked after parsing: the chunk that ends the headers may carry body bytes too.
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
            self._headers_too_large()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_request = True
        self._in_headers = True
        self._parsed_header_bytes = 0  # (_header_bytes already counts this chunk: reset when a response ends)
        if self._on_due is None:  # the next request on a kept-alive connection: its headers have a deadline
            self._arm(self.limits.header_timeout_s, self._header_deadline)

    def on_url(self, url: bytes) -> None:
        self._parsed_header_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_header_bytes += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        if self._parsed_header_bytes > self.limits.max_header_bytes:  # the headers ended in the chunk that overflowed
            self._headers_too_large()
            raise _Refused  # stops the parser: nothing more of this connection is read
        self._arm(self.limits.body_timeout_s, self._body_deadline)
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not before and type(self.cycle) is RequestResponseCycle:
            self.cycle.__class__ = _OneWriteCycle  # before its task's first step: every send goes through it

    def _headers_too_large(self) -> None:
        self.stats["headers_too_large"] += 1
        message = f"The request headers are larger than {self.limits.max_header_bytes} bytes."
        self._refuse(_error(431, "RequestHeaderFieldsTooLargeException", message))

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_request = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._in_request:
            self._in_headers = True  # until the next request's headers end
            self._header_bytes = 0
