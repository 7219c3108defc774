"""EventBridge's wire protocol: AWS JSON 1.1 on `POST /`, dispatched on `X-Amz-Target: AWSEvents.<Operation>`.

This module knows nothing about buses or rules. It reads a bounded body, parses it as a JSON object, finds the
operation, validates the input against the service model, calls the handler and writes the answer the way botocore
parses it: `{"__type": code, "message": text}` with 400 for client errors and 500 for `InternalException`, and an
`x-amzn-RequestId` header on every response. An operation the model defines but nobody registered a handler for
answers with an explicit error, never a fake success. Each request runs in its (account, region) namespace, read
from its SigV4 credential scope (router.namespace).

`Dispatcher.asgi` is the service's ASGI app, written on raw ASGI messages (no starlette `Request` or `Response`
object per request: PutEvents is the hot path). router.app also calls it directly for `POST /` with
`X-Amz-Target: AWSEvents.PutEvents`, before starlette's middleware and routing, which answer every such request
with this same app anyway (tests/router/test_put_events_fast_path.py compares the bytes of both paths).

Faults are translated here, at one boundary: a Redis failure in any handler becomes the one error of its fault
class (router.faults: "Storage is unavailable. Retry the request.", ...), logged as one line without a traceback,
at most a few per second; a client that disconnects mid-body is `ClientDisconnected` (499, not logged).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from router import namespace as namespaces
from router import uuids
from router.errors import (
    InternalException,
    NotSupportedException,
    RequestEntityTooLargeException,
    SerializationException,
    ServiceError,
    UnknownOperationException,
)
from router.faults import STORAGE_ERRORS, fault_class, log_fault, storage_error
from router.state import AppState

log = logging.getLogger("switchboard.protocol")

TARGET_PREFIX = "AWSEvents."
CONTENT_TYPE = "application/x-amz-json-1.1"

Handler = Callable[[AppState, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]
"""An operation handler: the parsed, validated request body in, the response body (or None for no body) out."""

Validator = Callable[[str, dict[str, Any]], None]
"""Checks a request body against the operation's input shape; raises a ServiceError."""

Observer = Callable[[str, int, float], None]
"""Called after each request with (operation, status, seconds); metrics hook in here."""

_NO_HEADERS: Mapping[str, str] = {}
_request_headers: ContextVar[Mapping[str, str]] = ContextVar("request_headers", default=_NO_HEADERS)


def request_headers() -> Mapping[str, str]:
    """The HTTP headers of the request being handled (look names up in lower case); empty for in-process calls."""
    return _request_headers.get()


class Dispatcher:
    """Routes parsed requests to handlers. Also used in process (config loading, tests) via `call`."""

    def __init__(
        self,
        state: AppState,
        handlers: Mapping[str, Handler],
        model_operations: frozenset[str],
        validator: Validator | None = None,
    ) -> None:
        self.state = state
        self.handlers = dict(handlers)
        self.model_operations = model_operations
        self.validator = validator
        self.observers: list[Observer] = []
        self.namespace_hooks: list[Callable[[AppState], Awaitable[None]]] = []
        """Run (idempotently) before the first operation this process handles in a namespace other than the home
        one (router.api's `on_namespace` hooks: its `default` bus, which every account and region has)."""
        self._namespaces_ready: set[namespaces.Namespace] = set()

    async def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """Run one operation in process, exactly as the wire would (validation included)."""
        handler = self.handlers.get(operation)
        if handler is None:
            if operation in self.model_operations:
                raise NotSupportedException(f"Operation {operation} is not supported by Switchboard.")
            raise UnknownOperationException(f"Unknown operation {TARGET_PREFIX}{operation}.")
        if self.validator is not None:
            self.validator(operation, body)
        try:
            if self.namespace_hooks:
                await self._namespace_ready()
            result = await handler(self.state, body)
        except STORAGE_ERRORS as err:  # the one boundary for storage faults: the same error for every operation
            if fault_class(err) is None:
                log.exception("internal error in %s", operation)
            else:
                log_fault(log, operation, err)
            raise storage_error(err) from err
        except ServiceError as err:
            if isinstance(err.__cause__, STORAGE_ERRORS):  # translated by a store (router.store.scripts.redis_errors)
                log_fault(log, operation, err.__cause__)
            raise
        return dict(result) if result is not None else {}

    async def _namespace_ready(self) -> None:
        namespace = self.state.namespace
        if namespace == self.state.home or namespace in self._namespaces_ready:
            return
        for hook in self.namespace_hooks:
            await hook(self.state)
        if len(self._namespaces_ready) >= 10_000:  # bounded: the hooks are idempotent, running them again is cheap
            self._namespaces_ready.clear()
        self._namespaces_ready.add(namespace)

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app: one request in, one AWS JSON answer out, with `x-amzn-RequestId`."""
        request_id = uuids.one()
        started = time.perf_counter()
        operation = "Unknown"
        headers = Headers(scope=scope)
        headers_token = _request_headers.set(headers)
        namespace_token = namespaces.enter(namespaces.resolve_scope(scope, self.state.home))
        try:
            operation = _operation_name(headers.get("x-amz-target"))
            raw = await _receive_body(headers, receive, self.state.settings.max_request_body_bytes)
            body = _parse_body(raw)
            result = await self.call(operation, body)
            status = 200
            payload = b"" if operation in NO_OUTPUT_OPERATIONS else orjson.dumps(result)
        except ServiceError as err:
            status, payload = err.status, _error_body(err)
        except Exception:  # the last line of defence: never a traceback on the wire
            log.exception("internal error in %s", operation)
            status, payload = 500, _error_body(InternalException("An internal error occurred."))
        finally:
            _request_headers.reset(headers_token)
            namespaces.leave(namespace_token)
        # The head starlette's Response(payload, status, media_type=CONTENT_TYPE) sends, plus the request id.
        response_headers = [
            (b"content-length", str(len(payload)).encode()),
            (_CONTENT_TYPE_HEADER, _CONTENT_TYPE_VALUE),
            (b"x-amzn-requestid", request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
        elapsed_s = time.perf_counter() - started
        for observer in self.observers:
            observer(operation, status, elapsed_s)


_CONTENT_TYPE_HEADER = b"content-type"
_CONTENT_TYPE_VALUE = CONTENT_TYPE.encode()


class ClientDisconnected(ServiceError):
    """The client went away mid-request (e.g. mid-body). Not an error of the router: no log line, no 5xx; the
    response is never read, and metrics count it with status 499 (nginx's "client closed request")."""

    code = "ClientDisconnected"
    status = 499


NO_OUTPUT_OPERATIONS = frozenset(
    {
        "DeleteRule",
        "EnableRule",
        "DisableRule",
        "DeleteEventBus",
        "PutPermission",
        "RemovePermission",
        "ActivateEventSource",
        "DeactivateEventSource",
        "DeletePartnerEventSource",
    }
)
"""Operations whose model has no output shape: 200 with an empty body (Content-Type still sent)."""


def _error_body(err: ServiceError) -> bytes:
    return orjson.dumps({"__type": err.code, "message": err.message})


def _operation_name(target: str | None) -> str:
    if not target or not target.startswith(TARGET_PREFIX) or len(target) == len(TARGET_PREFIX):
        raise UnknownOperationException(f"Unknown operation {target or '(missing X-Amz-Target header)'}.")
    return target[len(TARGET_PREFIX) :]


async def _read_body(request: Request, limit_bytes: int) -> bytes:
    """The body of a starlette request, at most `limit_bytes` (RequestEntityTooLargeException beyond; a client
    that goes away mid-body is ClientDisconnected)."""
    return await _receive_body(request.headers, request.receive, limit_bytes)


async def _receive_body(headers: Headers, receive: Receive, limit_bytes: int) -> bytes:
    """`_read_body` on raw ASGI messages (the same checks and errors, in the same order)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise RequestEntityTooLargeException(f"Request body is larger than {limit_bytes} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect (starlette's request.stream() raises ClientDisconnect)
            raise ClientDisconnected("The client closed the connection before sending the whole body.")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit_bytes:
            raise RequestEntityTooLargeException(f"Request body is larger than {limit_bytes} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)  # one chunk: that object itself


def _parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise SerializationException("Request body is not valid JSON.") from err
    if not isinstance(body, dict):
        raise SerializationException("Request body must be a JSON object.")
    return body


read_body = _read_body
"""The bounded body reader, shared with the other JSON protocols on the port (router.sqs.protocol)."""

parse_body = _parse_body
"""The JSON-object body parser, shared with the other JSON protocols on the port (router.sqs.protocol)."""
