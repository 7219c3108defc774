"""SQS's wire protocol: AWS JSON 1.0 on `POST /`, `X-Amz-Target: AmazonSQS.<Operation>` (botocore's `sqs` model).

Like router.protocol for EventBridge, this module knows nothing about queues: it reads a bounded body, parses the
JSON object, finds the operation and calls its handler with a `Call`: the request's base URL, from which queue
URLs are made (`http://<Host>/<account>/<name>`, as SQS builds them from its endpoint), and the request's (account,
region) namespace, read from its SigV4 credential scope as for every service of the port (router.namespace).
Answers are JSON 1.0; errors carry the Smithy shape in `__type`, the query-protocol code in `x-amzn-query-error`
(router.sqs.errors) and an `x-amzn-RequestId`. Operations of the model that Switchboard does not serve answer
`AWS.SimpleQueueService.UnsupportedOperation`, never a fake success; an unknown target answers
`UnknownOperationException`. A Redis failure is `InternalError` (500), never a traceback. Every request signed for
`sqs` comes here: one in SQS's older query protocol (form fields with `Action=`) gets an XML error that says only
the JSON protocol is served.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import orjson
from starlette.requests import Request
from starlette.responses import Response

from router import namespace as namespaces
from router.errors import ServiceError
from router.faults import STORAGE_ERRORS, fault_answer
from router.namespace import Namespace
from router.protocol import Observer, parse_body, read_body
from router.sqs.errors import SqsError, UnsupportedOperation

__all__ = ["CONTENT_TYPE", "TARGET_PREFIX", "Call", "SqsDispatcher", "SqsHandler"]

log = logging.getLogger("switchboard.sqs")

TARGET_PREFIX = "AmazonSQS."
CONTENT_TYPE = "application/x-amz-json-1.0"


@dataclass(frozen=True, slots=True)
class Call:
    base_url: str
    """`scheme://host[:port]` of the request, for queue URLs."""
    namespace: Namespace
    """The caller's account and region: the namespace whose queues the request names."""


SqsHandler = Callable[[Call, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]


class _InternalError(SqsError):
    code = "InternalError"
    query_code = "InternalError"
    status = 500
    sender_fault = False


class _UnknownOperation(SqsError):
    code = "UnknownOperationException"
    query_code = "UnknownOperationException"


class SqsDispatcher:
    def __init__(
        self,
        handlers: Mapping[str, SqsHandler],
        model_operations: frozenset[str],
        max_body_bytes: int,
        home: Namespace = namespaces.DEFAULT,
    ) -> None:
        self.home = home
        """The namespace of a request whose credential scope names none (the settings')."""
        self.handlers = dict(handlers)
        self.model_operations = model_operations
        self.max_body_bytes = max_body_bytes
        self.observers: list[Observer] = []

    async def call(
        self,
        operation: str,
        body: dict[str, Any],
        base_url: str = "http://localhost",
        namespace: Namespace | None = None,
    ) -> dict[str, Any]:
        """Run `operation` as a caller of `namespace` (the home namespace when None)."""
        handler = self.handlers.get(operation)
        if handler is None:
            if operation in self.model_operations:
                raise UnsupportedOperation(f"Switchboard does not serve the SQS operation {operation}.")
            raise _UnknownOperation(f"Unknown operation {TARGET_PREFIX}{operation}.")
        result = await handler(Call(base_url, namespace or self.home), body)
        return dict(result) if result is not None else {}

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        operation = "Unknown"
        try:
            target = request.headers.get("x-amz-target", "")
            operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
            if not operation:
                operation = "Unknown"
                if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                    raw = await read_body(request, self.max_body_bytes)
                    return _query_protocol_refused(dict(parse_qsl(raw.decode("utf-8", "replace"))))
                raise _UnknownOperation(f"Unknown operation {target or '(missing X-Amz-Target header)'}.")
            body = parse_body(await read_body(request, self.max_body_bytes))
            host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
            namespace = namespaces.resolve_scope(request.scope, self.home)
            result = await self.call(operation, body, f"{request.url.scheme}://{host}", namespace)
            response = Response(orjson.dumps(result), 200, media_type=CONTENT_TYPE)
        except SqsError as err:
            response = error_response(err)
        except ServiceError as err:  # a shared error of router.errors: shown with its own code
            response = error_response(_as_sqs(err))
        except STORAGE_ERRORS as err:  # one error per storage fault class, as every protocol of the port
            response = error_response(_InternalError(fault_answer(log, f"SQS {operation}", err)))
        except Exception:  # the last line of defence: never a traceback on the wire
            log.exception("internal error in SQS %s", operation)
            response = error_response(_InternalError("An internal error occurred."))
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        for observer in self.observers:
            observer(operation, response.status_code, time.perf_counter() - started)
        return response


def error_response(err: SqsError) -> Response:
    body = orjson.dumps({"__type": err.wire_type, "message": err.message})
    response = Response(body, err.status, media_type=CONTENT_TYPE)
    response.headers["x-amzn-query-error"] = f"{err.query_code};{'Sender' if err.sender_fault else 'Receiver'}"
    return response


def _query_protocol_refused(form: dict[str, str]) -> Response:
    """SQS's query protocol (form fields, XML answers; SDKs from before SQS's JSON protocol) is not served."""
    action = escape(str(form.get("Action", "")))
    message = escape(
        f"Switchboard serves Amazon SQS over the AWS JSON 1.0 protocol (X-Amz-Target: {TARGET_PREFIX}<Operation>), "
        f"which current AWS SDKs speak; this request uses the older query protocol (Action={action}), which is not "
        "served. Upgrade the SDK."
    )
    body = (
        '<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><Error>'
        f"<Type>Sender</Type><Code>{UnsupportedOperation.query_code}</Code><Message>{message}</Message>"
        f"<Detail/></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return Response(body, 400, media_type="text/xml")


def _as_sqs(err: ServiceError) -> SqsError:
    wrapped = SqsError(err.message)
    wrapped.code = wrapped.query_code = err.code
    wrapped.status = err.status
    return wrapped
