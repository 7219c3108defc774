"""One HTTP delivery attempt and how its outcome is classified; shared by function and API destination targets.

Every call has a 5 s timeout (EventBridge's per-request timeout for API destinations, used for functions too) and
carries `X-Switchboard-Delivery-Id: <event id>:<rule>:<target id>`, equal on every retry and redelivery of one
delivery, so receivers can drop duplicates. 2xx (and 1xx/3xx, as AWS) is success; 429 and 5xx are retried, honouring
`Retry-After`; timeouts and connection errors are retried; any other 4xx is not (router.delivery.retry).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from router.delivery.retry import Failure, failure_for_status

__all__ = ["DELIVERY_ID_HEADER", "TIMEOUT_S", "Sent", "new_client", "send"]

TIMEOUT_S = 5.0
DELIVERY_ID_HEADER = "X-Switchboard-Delivery-Id"


def new_client() -> httpx.AsyncClient:
    """The process's HTTP client for deliveries (connection pooling; no redirects followed, as AWS)."""
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
) -> Sent:
    try:
        response = await client.request(method, url, content=content, headers=dict(headers), params=params or None)
    except httpx.TimeoutException:
        return Sent(Failure("TIMEOUT", f"{method} {url} timed out after {TIMEOUT_S:g} s", True), None)
    except httpx.InvalidURL as err:
        return Sent(Failure("NO_RESOURCE", f"{method} {url}: invalid URL: {err}", False), None)
    except (httpx.TransportError, OSError) as err:
        return Sent(Failure("CONNECTION_ERROR", f"{method} {url}: {type(err).__name__}: {err}", True), None)
    failure = failure_for_status(
        response.status_code, response.reason_phrase, response.headers.get("retry-after"), time.time()
    )
    return Sent(failure, response.status_code)
