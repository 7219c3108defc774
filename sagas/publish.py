"""Publishing onto the bus through PutEvents, the way any client does (AWS JSON 1.1 over HTTP to the router).

`PutEventsPublisher` batches without waiting: entries handed to `publish` are queued, and at most
`max_requests` PutEvents requests are in flight at once, each taking up to PutEvents' 10 entries (and under its size
limit) from the queue. An idle publisher sends what one turn of the event loop queued at once (no linger, so a
lone dispatch pays no latency); a busy one lets the queue fill while its requests are out, so under load requests
carry 10 entries each instead of one (the order-to-cash demo made 9.5 requests per order with a 2 ms linger, and
the requests, in this process and in the router, were the larger part of its CPU: BENCHMARKS.md). Each caller gets
its own entries' results:

- an entry the router accepted: None;
- an entry refused for what it is (`MalformedDetail`, `InvalidArgument`, a bus that does not exist, ...): the
  router's `ErrorCode: ErrorMessage` (retrying cannot help; sagas.outbox records it as undeliverable);
- a transient failure (connection refused, a 5xx, `InternalFailure` or `ThrottlingException` entries) is retried
  `attempts` times with backoff, then raised as `DispatchError`: the messages stay in the outbox.

Details are encoded with `router.json_text.dumps` (any depth, as the router itself accepts).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from router.json_text import dumps
from router.outbound import quiet_http_loggers, safe_url
from sagas.errors import DispatchError

__all__ = ["EventEntry", "Publisher", "PutEventsPublisher"]

log = logging.getLogger("switchboard.sagas.publish")

MAX_ENTRIES = 10
_MAX_REQUEST_BYTES = 900_000
"""Below PutEvents' 1 MiB (AWS counts the entry sizes; this counts the JSON, which is larger)."""
_TRANSIENT_CODES = frozenset({"InternalFailure", "ThrottlingException", "InternalException"})


@dataclass(frozen=True, slots=True)
class EventEntry:
    bus: str
    source: str
    detail_type: str
    detail: Mapping[str, Any]
    resources: Sequence[str] = ()

    def request_member(self) -> dict[str, Any]:
        member: dict[str, Any] = {
            "EventBusName": self.bus,
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": dumps(self.detail).decode(),
        }
        if self.resources:
            member["Resources"] = list(self.resources)
        return member


class Publisher(Protocol):
    """What the outbox dispatcher needs: publish entries, get one result per entry (None: accepted)."""

    async def publish(self, entries: Sequence[EventEntry]) -> list[str | None]: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Pending:
    member: dict[str, Any]
    size: int
    future: asyncio.Future[str | None]


class PutEventsPublisher:
    def __init__(
        self,
        endpoint_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        max_requests: int = 4,
        timeout_s: float = 10.0,
        attempts: int = 4,
        backoff_s: float = 0.1,
        max_connections: int = 32,
    ) -> None:
        quiet_http_loggers()
        self.endpoint_url = endpoint_url.rstrip("/") + "/"
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=timeout_s, limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=32)
        )
        self.max_requests = max(1, max_requests)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._queue: collections.deque[_Pending] = collections.deque()
        self._pump_scheduled = False
        self._sending: set[asyncio.Task[None]] = set()
        self.requests = 0
        """PutEvents requests made (for tests and benchmarks)."""

    async def publish(self, entries: Sequence[EventEntry]) -> list[str | None]:
        loop = asyncio.get_running_loop()
        pending = []
        for entry in entries:
            member = entry.request_member()
            size = len(member["Detail"]) + len(member["DetailType"]) + len(member["Source"]) + 64
            pending.append(_Pending(member, size, loop.create_future()))
        self._queue.extend(pending)
        if not self._pump_scheduled:  # after this turn of the loop: what the other tasks queue meanwhile joins
            self._pump_scheduled = True
            loop.call_soon(self._pump)
        return list(await asyncio.gather(*(p.future for p in pending)))

    def _pump(self) -> None:
        """Start requests while fewer than `max_requests` are in flight, each with up to 10 queued entries."""
        self._pump_scheduled = False
        while self._queue and len(self._sending) < self.max_requests:
            batch: list[_Pending] = []
            size = 0
            while self._queue and len(batch) < MAX_ENTRIES:
                nxt = self._queue[0]
                if nxt.future.done():  # its caller was cancelled: nobody waits for it (its outbox keeps it)
                    self._queue.popleft()
                    continue
                if batch and size + nxt.size > _MAX_REQUEST_BYTES:
                    break
                batch.append(self._queue.popleft())
                size += nxt.size
            if not batch:
                return
            task = asyncio.create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._pump()

    async def _send(self, batch: list[_Pending]) -> None:
        remaining = batch
        last_error = ""
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                remaining, last_error = await self._request(remaining)
            except Exception as err:  # every failure of one request is a transient one: retried
                last_error = f"{type(err).__name__}: {err}"
            if not remaining:
                return
        for pending in remaining:
            if not pending.future.done():
                pending.future.set_exception(
                    DispatchError(f"PutEvents to {safe_url(self.endpoint_url)} failed: {last_error}")
                )

    async def _request(self, batch: list[_Pending]) -> tuple[list[_Pending], str]:
        """Send once; settle what is settled, return (entries to retry, why)."""
        body = orjson.dumps({"Entries": [p.member for p in batch]})
        self.requests += 1
        response = await self._client.post(
            self.endpoint_url,
            content=body,
            headers={"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"},
        )
        if response.status_code >= 500 or response.status_code == 429:
            return batch, f"HTTP {response.status_code}"
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return batch, f"HTTP {response.status_code} with a body that is not JSON"
        if response.status_code != 200:
            reason = f"{answer.get('__type', response.status_code)}: {answer.get('message', '')}"
            for pending in batch:
                _settle(pending, reason)
            return [], reason
        retry: list[_Pending] = []
        why = ""
        for pending, result in zip(batch, answer.get("Entries") or [], strict=False):
            code = result.get("ErrorCode")
            if not code:
                _settle(pending, None)
            elif code in _TRANSIENT_CODES:
                retry.append(pending)
                why = f"{code}: {result.get('ErrorMessage', '')}"
            else:
                _settle(pending, f"{code}: {result.get('ErrorMessage', '')}")
        missing = batch[len(answer.get("Entries") or []) :]
        return retry + missing, why or "the answer had fewer entries than the request"

    async def aclose(self) -> None:
        """Send what is queued (every caller gets its answer), then close the client."""
        while self._queue or self._sending:
            self._pump()
            if self._sending:
                await asyncio.gather(*list(self._sending), return_exceptions=True)
        if self._own_client:
            await self._client.aclose()


def _settle(pending: _Pending, result: str | None) -> None:
    if not pending.future.done():
        pending.future.set_result(result)
