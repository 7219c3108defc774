"""API destination targets: the HTTP call EventBridge makes, with the connection's credentials (§7.9).

The target's `Arn` is the API destination's ARN. Per delivery: the destination record (`router.connections.store`),
a slot under its `InvocationRateLimitPerSecond` (global, `router.delivery.rate_limit`), the connection's
credentials (`router.connections.auth`: BASIC, API_KEY or an OAuth client-credentials token), then one request:

- method and URL from the destination; each `*` in the endpoint's path is replaced, in order, by the target's
  `HttpParameters.PathParameterValues`, each percent-encoded as one path segment (router.connections.endpoints).
- headers: AWS's (`User-Agent: Amazon/EventBridge/ApiDestinations`, `Content-Type: application/json;
  charset=utf-8`, `Range: bytes=0-1048575`, `Accept-Encoding: gzip,deflate`, `Connection: close`), then the
  target's `HeaderParameters`, then the connection's (auth header and invocation headers): the connection wins.
- query: the target's `QueryStringParameters`, then the connection's (the connection wins).
- body: the target's input; when it is a JSON object, the connection's body parameters are merged into it (the
  connection wins); GET and HEAD send no body.
- a header or query value of the target that starts with `$.` is a JSON path into the original event (AWS's
  dynamic parameters). A header value with a control character (a CR or LF from the event) fails the delivery
  with INPUT_ERROR, not retried, and is never echoed; so does a value larger than the input size limit.
- `X-Switchboard-Delivery-Id` and `X-Switchboard-Hops` (router.delivery.http).

A 401 or 407 through an OAuth connection drops the cached token and retries once at once with a fresh one; if that
fails too, the delivery fails like any 4xx. A deauthorized connection fails with NO_PERMISSIONS, a deleted
destination or connection with NO_RESOURCE; neither is retried.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx
import orjson

from router import json_text
from router.connections.auth import Authorization, ConnectionUnauthorized
from router.connections.endpoints import fill_path
from router.connections.store import ConnectionStore
from router.delivery.http import DELIVERY_ID_HEADER, HOPS_HEADER, Sent, send
from router.delivery.jobs import Job
from router.delivery.rate_limit import RateLimiter
from router.delivery.retry import Failure
from router.errors import ResourceNotFoundException
from router.transform import MAX_INPUT_BYTES, input_limit_bytes, select_path

__all__ = ["AWS_HEADERS", "ApiDestinationTransport"]

AWS_HEADERS = {
    "User-Agent": "Amazon/EventBridge/ApiDestinations",
    "Content-Type": "application/json; charset=utf-8",
    "Range": "bytes=0-1048575",
    "Accept-Encoding": "gzip,deflate",
    "Connection": "close",
}
_NO_BODY = frozenset({"GET", "HEAD"})
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""What a header value may not hold (HTAB is allowed, as in RFC 9110 field values)."""


class Authorizer(Protocol):
    """What delivery needs from `router.connections.auth.ConnectionAuth`."""

    async def authorize(self, connection_arn: str) -> Authorization: ...

    def invalidate(self, connection_arn: str) -> None: ...


class ApiDestinationTransport:
    batched = False

    def __init__(
        self, store: ConnectionStore, auth: Authorizer, limiter: RateLimiter, client: httpx.AsyncClient
    ) -> None:
        self.store = store
        self.auth = auth
        self.limiter = limiter
        self.client = client

    async def deliver(self, jobs: Sequence[Job]) -> list[Failure | None]:
        return [await self._deliver_one(job) for job in jobs]

    async def _deliver_one(self, job: Job) -> Failure | None:
        try:
            store = self.store.for_arn(str(job.target["Arn"]))  # the destination's own namespace (router.namespace)
            destination = await store.destination_by_arn(str(job.target["Arn"]))
            await self.limiter.acquire(
                store.rate_name(destination), int(destination.get("InvocationRateLimitPerSecond") or 300)
            )
            connection_arn = destination["ConnectionArn"]
            sent = await self._call(job, destination, await self.auth.authorize(connection_arn))
            if sent.status in (401, 407) and await self._is_oauth(connection_arn):
                self.auth.invalidate(connection_arn)
                sent = await self._call(job, destination, await self.auth.authorize(connection_arn))
        except ResourceNotFoundException as err:
            return Failure("NO_RESOURCE", err.message, False)
        except ConnectionUnauthorized as err:
            return Failure("NO_PERMISSIONS", str(err), False)
        return sent.failure

    async def _is_oauth(self, connection_arn: str) -> bool:
        record = await self.store.for_arn(connection_arn).connection_by_arn(connection_arn)
        return bool(record.get("AuthorizationType") == "OAUTH_CLIENT_CREDENTIALS")

    async def _call(self, job: Job, destination: Mapping[str, Any], auth: Authorization) -> Sent:
        params = job.target.get("HttpParameters") or {}
        event: Any = None
        if _has_dynamic(params):
            event = orjson.loads(job.event)
        url = fill_path(str(destination["InvocationEndpoint"]), params.get("PathParameterValues") or [])
        try:
            headers: dict[str, str] = dict(AWS_HEADERS)
            headers.update(_resolve(params.get("HeaderParameters") or {}, event))
            headers.update(auth.headers)
            headers[DELIVERY_ID_HEADER] = job.delivery_id
            headers[HOPS_HEADER] = str(job.hops)
            _check_headers(headers)
            query = _resolve(params.get("QueryStringParameters") or {}, event)
            query.update(auth.query)
            method = str(destination["HttpMethod"]).upper()
            body = None if method in _NO_BODY else _body(job.payload, auth.body)
        except _Unsendable as err:
            return Sent(Failure("INPUT_ERROR", str(err), False), None)
        return await send(self.client, method, url, content=body, headers=headers, params=query)


class _Unsendable(Exception):
    """The request this event makes cannot be sent (a header with a line break, a value over the size limit)."""


def _has_dynamic(params: Mapping[str, Any]) -> bool:
    values = [*(params.get("HeaderParameters") or {}).values(), *(params.get("QueryStringParameters") or {}).values()]
    return any(str(v).startswith("$.") for v in values)


def _resolve(values: Mapping[str, Any], event: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in values.items():
        text = str(value)
        if event is not None and text.startswith("$."):
            selected = select_path(event, text, "")
            if isinstance(selected, str):
                text = selected
            else:
                try:
                    text = json_text.dumps(selected, MAX_INPUT_BYTES).decode()
                except json_text.TooLarge:
                    raise _Unsendable(f"The value of {key} ({value}) is larger than {MAX_INPUT_BYTES} bytes.") from None
        out[str(key)] = text
    return out


def _check_headers(headers: Mapping[str, str]) -> None:
    """No header value may hold a control character: a CR or LF would end the header, so a value taken from the
    event that has one fails the delivery for good instead of being retried. The value is never echoed."""
    for name, value in headers.items():
        if _CONTROL_RE.search(value):
            raise _Unsendable(f"Header {name} contains a control character (CR, LF, NUL, ...); it cannot be sent.")


def _body(payload: bytes | None, extra: Mapping[str, str]) -> bytes | None:
    if payload is None or not extra:
        return payload
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    if not isinstance(parsed, dict):
        return payload
    parsed.update(extra)
    try:
        return json_text.dumps(parsed, input_limit_bytes(len(payload)) + _extra_bytes(extra))
    except json_text.TooLarge as err:  # cannot happen: the limit is the payload plus the parameters
        raise _Unsendable(str(err)) from None


def _extra_bytes(extra: Mapping[str, str]) -> int:
    return sum(len(json_text.dumps(k)) + len(json_text.dumps(v)) + 2 for k, v in extra.items())
