"""Errors for requests no mounted service answers, in the wire protocol the client will parse.

A user points an SDK for some AWS service at the router; if Switchboard does not serve that service (or that path
of it), the answer must still be an error that SDK understands, naming the service and saying it is not served,
instead of a bare 404 or a misleading `UnknownOperationException`. The protocol is read off the request first
(an `X-Amz-Target` means AWS JSON, a `smithy-protocol` header RPC v2 CBOR, a form body with `Action=` the query
protocol), then taken from the service's model (REST JSON or REST XML). Each shape is the one botocore's parser for
that protocol reads the error code and message from:

| protocol | status | shape |
|---|---|---|
| AWS JSON 1.0 / 1.1 | 400 | `{"__type": code, "message": text}`, `Content-Type: application/x-amz-json-1.x` |
| REST JSON | 400 (404 for an unknown path) | `x-amzn-errortype: code` header, `{"message": text}` body |
| REST XML | 400 | `<Error><Code>…` (S3), else `<ErrorResponse><Error><Type>Sender</Type><Code>…` |
| query | 400 | `<ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…` |
| EC2 | 400 | `<Response><Errors><Error><Code>…</Code><Message>…` |
| RPC v2 CBOR | 400 | CBOR map `{"__type": code, "message": text}`, `smithy-protocol: rpc-v2-cbor` |

The code is `ServiceNotServedException` for a recognised service; a request nothing identifies gets
`UnknownOperationException` (JSON 1.1 on `POST /`, as EventBridge answers a missing target; REST JSON 404 elsewhere),
with a message that lists what is served. Every answer carries `x-amzn-RequestId`; HEAD answers carry no body.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from xml.sax.saxutils import escape

import orjson
from starlette.responses import Response

from router.services.catalogue import AwsService

__all__ = [
    "NOT_SERVED_CODE",
    "PLANNED",
    "not_served_message",
    "not_served_response",
    "unknown_operation_response",
    "unknown_request_response",
]

NOT_SERVED_CODE = "ServiceNotServedException"

PLANNED: frozenset[str] = frozenset()
"""Services on Switchboard's roadmap: their message says "not served yet". Remove a name when it is mounted."""


def _served_text(served: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{title} ({name})" for name, title in served)


def not_served_message(service: AwsService, served: Sequence[tuple[str, str]]) -> str:
    yet = " yet" if service.name in PLANNED else ""
    return (
        f"Switchboard does not serve {service.title} ({service.name}){yet}. "
        f"This endpoint serves: {_served_text(served)}."
    )


def not_served_response(
    service: AwsService,
    served: Sequence[tuple[str, str]],
    *,
    method: str,
    request_protocol: str | None,
    json_version: str | None = None,
) -> Response:
    """The error for a request meant for `service`. `request_protocol` is what the request itself shows
    (`json`, `smithy-rpc-v2-cbor`, `query`), or None for a REST request."""
    message = not_served_message(service, served)
    protocol = request_protocol or service.protocol
    if protocol == "query" and service.protocol == "ec2":
        protocol = "ec2"
    return _error(protocol, NOT_SERVED_CODE, message, 400, method=method, service=service, json_version=json_version)


def unknown_operation_response(
    service: AwsService, method: str, path: str, *, request_protocol: str | None, json_version: str | None = None
) -> Response:
    """The error for a request of a served service that names none of its operations (e.g. no X-Amz-Target)."""
    protocol = request_protocol or service.protocol
    if protocol == "json":
        message = "Unknown operation (missing X-Amz-Target header)."
        return _error(
            protocol,
            "UnknownOperationException",
            message,
            400,
            method=method,
            service=service,
            json_version=json_version,
        )
    message = f"{service.title} ({service.name}) has no operation at {method} {path}."
    status = 404 if protocol == "rest-json" else 400
    return _error(protocol, "UnknownOperationException", message, status, method=method, service=service)


def unknown_request_response(method: str, path: str, served: Sequence[tuple[str, str]]) -> Response:
    """The error for a request nothing identifies (no target, no signature, no known path)."""
    hint = (
        "Nothing in it names an AWS service (no X-Amz-Target header, no SigV4 credential scope). "
        f"This endpoint serves: {_served_text(served)}."
    )
    if method == "POST" and path == "/":
        message = f"Unknown operation (missing X-Amz-Target header). {hint}"
        return _error("json", "UnknownOperationException", message, 400, method=method, json_version="1.1")
    message = f"Switchboard serves no API at {method} {path}. {hint}"
    return _error("rest-json", "UnknownOperationException", message, 404, method=method)


def _error(
    protocol: str,
    code: str,
    message: str,
    status: int,
    *,
    method: str,
    service: AwsService | None = None,
    json_version: str | None = None,
) -> Response:
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if protocol == "json":
        version = json_version or (service.json_version if service is not None else "1.1")
        body = orjson.dumps({"__type": code, "message": message})
        media_type = f"application/x-amz-json-{version}"
    elif protocol == "smithy-rpc-v2-cbor":
        body = _cbor_text_map({"__type": code, "message": message})
        media_type = "application/cbor"
        headers["smithy-protocol"] = "rpc-v2-cbor"
    elif protocol in ("query", "rest-xml", "ec2"):
        media_type = "text/xml"
        code_xml, message_xml = escape(code), escape(message)
        if protocol == "ec2":
            text = (
                f"<Response><Errors><Error><Code>{code_xml}</Code><Message>{message_xml}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>"
            )
        elif protocol == "rest-xml" and service is not None and service.name == "s3":
            text = (
                f"<Error><Code>{code_xml}</Code><Message>{message_xml}</Message>"
                f"<RequestId>{request_id}</RequestId></Error>"
            )
        else:
            text = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code_xml}</Code><Message>{message_xml}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()
    else:  # rest-json, and anything botocore may add later
        body = orjson.dumps({"message": message})
        media_type = "application/json"
        headers["x-amzn-errortype"] = code
    if method == "HEAD":
        body = b""
    return Response(body, status, headers=headers, media_type=media_type)


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 0x100:
        return bytes([major << 5 | 24, length])
    if length < 0x10000:
        return bytes([major << 5 | 25]) + length.to_bytes(2, "big")
    return bytes([major << 5 | 26]) + length.to_bytes(4, "big")


def _cbor_text_map(items: dict[str, str]) -> bytes:
    """RFC 8949 encoding of a map of text strings to text strings (all an error body needs)."""
    out = bytearray(_cbor_head(5, len(items)))
    for key, value in items.items():
        for text in (key, value):
            data = text.encode()
            out += _cbor_head(3, len(data)) + data
    return bytes(out)
