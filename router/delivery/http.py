"""One HTTP delivery attempt and how its outcome is classified; shared by function and API destination targets.

Every attempt has one deadline of 5 s in total (EventBridge's per-request timeout for API destinations, used for
functions too): connecting, sending, the status line and headers, and the body all fit in it, however slowly a
server drips its bytes. The outcome is decided by the status alone; of the body at most `RESPONSE_PREFIX_BYTES`
are read, undecoded (so neither a huge nor a compressed body costs memory), and a body longer than that closes the
connection instead of being drained. If the deadline passes after the status arrived, the status still decides.

Every call carries `X-Switchboard-Delivery-Id: <event id>:<rule>:<target id>`, equal on every retry and
redelivery of one delivery, so receivers can drop duplicates, and `X-Switchboard-Hops: N`, the number of event-bus
hops the event has taken (router.delivery.bus_target); a router receiving it in PutEvents counts the hop, so an
HTTP target pointing back at a router is bounded like a bus-to-bus loop. 2xx (and 1xx/3xx, as AWS) is success; 429
and 5xx are retried, honouring `Retry-After`; timeouts and connection errors are retried; any other 4xx is not
(router.delivery.retry); a request that cannot be sent as built (an invalid URL, a header httpx refuses) is not.

Nothing here logs a URL's query string or a header: the query and the headers carry connection secrets. httpx and
httpcore would log each request's full URL and the response headers, so `new_client` quiets their loggers
(router.outbound); this module logs each request at DEBUG instead, without the query string.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

import httpx

from router.delivery.retry import Failure, failure_for_status
from router.outbound import ResponseTooLarge, quiet_http_loggers, read_limited, safe_url

__all__ = [
    "DELIVERY_ID_HEADER",
    "HOPS_HEADER",
    "RESPONSE_PREFIX_BYTES",
    "TIMEOUT_S",
    "Sent",
    "new_client",
    "send",
]

TIMEOUT_S = 5.0
"""The deadline of one attempt, in total."""
RESPONSE_PREFIX_BYTES = 8192
"""At most this much of a response body is read (a small body is read whole, so its connection can be reused)."""
DELIVERY_ID_HEADER = "X-Switchboard-Delivery-Id"
HOPS_HEADER = "X-Switchboard-Hops"

log = logging.getLogger("switchboard.delivery.http")


def new_client() -> httpx.AsyncClient:
    """The process's HTTP client for deliveries (connection pooling; no redirects followed, as AWS)."""
    quiet_http_loggers()
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=128)
    return httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT_S), limits=limits, follow_redirects=False)


class Sent:
    """The outcome of one request: the failure (None on success) and the status (None without a response)."""

    __slots__ = ("failure", "status")

    def __init__(self, failure: Failure | None, status: int | None) -> None:
        self.failure = failure
        self.status = status


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    content: bytes | None,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None = None,
    timeout_s: float = TIMEOUT_S,
) -> Sent:
    """One attempt, within `timeout_s` in total."""
    shown = f"{method} {safe_url(url)}"
    status: int | None = None
    reason = ""
    retry_after: str | None = None
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            wire = [(name.encode("ascii"), value.encode()) for name, value in headers.items()]  # values in UTF-8
            request = client.build_request(method, url, content=content, headers=wire, params=params or None)
            response = await client.send(request, stream=True)
            try:
                status, reason = response.status_code, response.reason_phrase
                retry_after = response.headers.get("retry-after")
                with contextlib.suppress(ResponseTooLarge):  # the rest is not read: closing drops it
                    await read_limited(response, RESPONSE_PREFIX_BYTES)
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        if status is None:
            return Sent(Failure("TIMEOUT", f"{shown} timed out after {timeout_s:g} s", True), None)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        return Sent(Failure("NO_RESOURCE", f"{shown}: invalid URL", False), None)
    except (httpx.LocalProtocolError, UnicodeEncodeError) as err:  # cannot be sent as built; never echo its text
        return Sent(Failure("CLIENT_ERROR", f"{shown}: the request cannot be sent ({type(err).__name__})", False), None)
    except (httpx.TransportError, OSError) as err:
        if status is None:
            return Sent(Failure("CONNECTION_ERROR", f"{shown}: {type(err).__name__}: {err}", True), None)
    assert status is not None
    log.debug("%s: HTTP %d in %.3f s", shown, status, time.monotonic() - started)
    return Sent(failure_for_status(status, reason, retry_after, time.time()), status)
