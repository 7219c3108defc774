"""The Schemas API's wire protocol (restJson1), driven by botocore's `schemas` 2019-12-02 model.

The model says, for each of the 31 operations, its method, URI template, success status and where every input
member travels (URI label, query string or JSON body, with wire names such as the lowercase `tags`). So routing,
request assembly, input validation and response serialization are read from the model, not hand-copied:

- Routing splits the *raw* path at `/` before percent-decoding each segment, so a label that holds a `/` (botocore
  sends `aws.partner/x@Y` as `aws.partner%2Fx%40Y`, and tag ARNs likewise) never changes the route.
- Input: labels, query members (integers parsed, `tagKeys` repeated) and body members become one dict keyed by the
  model's member names, checked against the input shape (required, length, enum, type) before the handler runs:
  every violation is a `BadRequestException`.
- Output: the handler's dict (timestamps as epoch seconds) is written with the output shape's wire names and ISO
  8601 timestamps, or as the raw blob for a payload member; the status is the model's `responseCode`.
- Errors carry `x-amzn-errortype` and a `{"Code", "Message"}` body with the error's own status; anything unexpected
  is logged and answered as `InternalServerErrorException`, never a traceback.

Each handler runs in the request's (account, region) namespace, read from its SigV4 credential scope as for every
service of the port (router.namespace): registries, schemas, discoverers and policies are that namespace's, and
their ARNs carry its account and region.

`SchemasApp` is the ASGI app that `schemas.extension` mounts on the router's one port as a `router.services.Service`:
requests signed for `schemas` (every botocore call, `/tags/...` included) and unsigned ones under the Schemas path
prefixes reach it; everything else on the port never does.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote

import botocore.session
import orjson
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from router import namespace as namespaces
from router.errors import ServiceError
from router.protocol import ClientDisconnected, read_body
from router.state import AppState
from schemas.errors import (
    BadRequestException,
    InternalServerErrorException,
    NotFoundException,
    SchemasError,
    UnsupportedOperationException,
)

__all__ = ["PATHS", "Handler", "SchemasApp", "iso8601", "schemas_model"]

log = logging.getLogger("switchboard.schemas")

Handler = Callable[[AppState, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]
"""An operation handler: the assembled, validated input in (model member names), the output dict (or None) out."""

PATHS = ("/v1/registries", "/v1/discoverers", "/v1/discover", "/v1/policy")
"""Path prefixes of the Schemas API that unsigned requests are recognised by (signed ones go by signing name)."""


@cache
def schemas_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("schemas")


def iso8601(epoch_s: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_s, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class _Op:
    model: OperationModel
    method: str
    segments: tuple[str | None, ...]
    """Literal path segments, or None for a label (whose name is in `labels` at the same index)."""
    labels: tuple[str | None, ...]

    @property
    def literal_count(self) -> int:
        return sum(1 for segment in self.segments if segment is not None)


def _compile_ops(model: ServiceModel) -> list[_Op]:
    ops: list[_Op] = []
    for name in model.operation_names:
        op = model.operation_model(name)
        path = op.http["requestUri"].split("?")[0]
        segments: list[str | None] = []
        labels: list[str | None] = []
        for part in path.strip("/").split("/"):
            if part.startswith("{") and part.endswith("}"):
                segments.append(None)
                labels.append(part[1:-1].rstrip("+"))
            else:
                segments.append(part)
                labels.append(None)
        ops.append(_Op(op, op.http["method"], tuple(segments), tuple(labels)))
    # A literal segment beats a label (`.../schemas/search` before `.../schemas/name/{n}` never clash, but be sure).
    ops.sort(key=lambda op: -op.literal_count)
    return ops


class RestApi:
    """Dispatches restJson1 requests to handlers by the model's routes."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.model = schemas_model()
        self.handlers = dict(handlers)
        self._ops = _compile_ops(self.model)

    def route(self, method: str, raw_path: str) -> tuple[_Op, dict[str, str]]:
        parts = [unquote(part) for part in raw_path.strip("/").split("/")]
        path_matched = False
        for op in self._ops:
            if len(op.segments) != len(parts):
                continue
            labels: dict[str, str] = {}
            for segment, label, part in zip(op.segments, op.labels, parts, strict=True):
                if segment is not None:
                    if segment != part:
                        break
                elif label is not None:
                    labels[label] = part
            else:
                path_matched = True
                if op.method == method:
                    return op, labels
        if path_matched:
            raise NotFoundException(f"The Schemas API has no {method} operation on {raw_path}.")
        raise NotFoundException(f"The Schemas API has no operation at {raw_path}.")

    async def handle(self, request: Request, state: AppState) -> Response:
        started = time.perf_counter()
        operation = "Unknown"
        try:
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            op, labels = self.route(request.method, raw_path.decode("latin-1").split("?")[0])
            operation = op.model.name
            body = await read_body(request, state.settings.max_request_body_bytes)  # too large: 400 (below)
            params = _assemble(op.model, labels, request.scope.get("query_string", b"").decode("latin-1"), body)
            handler = self.handlers.get(operation)
            if handler is None:
                raise UnsupportedOperationException(f"Operation {operation} is not supported by Switchboard yet.")
            with namespaces.entered(namespaces.resolve_scope(request.scope, state.home)):  # its account and region
                result = await handler(state, params)
            response = _success(op.model, dict(result) if result is not None else {})
        except SchemasError as err:
            response = error_response(err)
        except ClientDisconnected:  # never read by anyone; counted as 499, not logged
            response = Response(b"", ClientDisconnected.status)
        except ServiceError as err:  # a router error reached us (e.g. from a shared store): keep its status
            response = error_response(BadRequestException(err.message) if err.status < 500 else _internal())
        except Exception:  # the last line of defence: never a traceback on the wire
            log.exception("internal error in schemas %s", operation)
            response = error_response(_internal())
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        metrics = state.extras.get("metrics")
        if metrics is not None:
            metrics.observe_request(f"schemas.{operation}", response.status_code, time.perf_counter() - started)
        return response


def _internal() -> InternalServerErrorException:
    return InternalServerErrorException("An internal error occurred.")


def error_response(err: ServiceError) -> Response:
    body = orjson.dumps({"Code": err.code, "Message": err.message})
    return Response(body, err.status, media_type="application/json", headers={"x-amzn-errortype": err.code})


class SchemasApp:
    """The ASGI app of the Schemas API, mounted as a `router.services.Service` (schemas.extension)."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.api = RestApi(handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        state: AppState = request.app.state.switchboard
        response = await self.api.handle(request, state)
        await response(scope, receive, send)


# -- input ----------------------------------------------------------------------------------------------------


def _assemble(op: OperationModel, labels: Mapping[str, str], query: str, raw_body: bytes) -> dict[str, Any]:
    shape = op.input_shape
    if shape is None:
        return {}
    body: dict[str, Any] = {}
    if raw_body.strip():
        try:
            parsed = orjson.loads(raw_body)
        except orjson.JSONDecodeError as err:
            raise BadRequestException("The request body is not valid JSON.") from err
        if not isinstance(parsed, dict):
            raise BadRequestException("The request body must be a JSON object.")
        body = parsed
    pairs = parse_qsl(query, keep_blank_values=True)
    params: dict[str, Any] = {}
    errors: list[str] = []
    for member, member_shape in shape.members.items():
        location = member_shape.serialization.get("location")
        wire = member_shape.serialization.get("name", member)
        if location == "uri":
            if wire in labels:
                params[member] = labels[wire]
        elif location == "querystring":
            values = [value for key, value in pairs if key == wire]
            if values:
                params[member] = _query_value(member_shape, wire, values)
        elif location is None and wire in body and body[wire] is not None:
            params[member] = body[wire]
    errors.extend(
        f"Value null at '{_lower_camel(member)}' failed to satisfy constraint: Member must not be null"
        for member in shape.required_members
        if member not in params
    )
    for member, value in params.items():
        _check(shape.members[member], value, _lower_camel(member), errors)
    if errors:
        count = len(errors)
        raise BadRequestException(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors))
    return params


def _query_value(shape: Shape, wire: str, values: list[str]) -> Any:
    if isinstance(shape, ListShape):
        return values
    value = values[-1]
    if shape.type_name in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            raise BadRequestException(f"Parameter {wire} must be an integer, got '{value}'.") from None
    return value


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _check_length(shape: Shape, value: str | list[Any], path: str, errors: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    constraint = f"Value at '{path}' failed to satisfy constraint: Member must have length"
    if low is not None and len(value) < low:
        errors.append(f"{constraint} greater than or equal to {low}")
    if high is not None and len(value) > high:
        errors.append(f"{constraint} less than or equal to {high}")


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    """Check one member against its shape (the Schemas model nests at most a map or list of strings)."""
    kind = shape.type_name
    if kind == "string":
        if shape.serialization.get("jsonvalue") and not isinstance(value, str):
            return  # a JSON document member (Policy): any JSON value
        if not isinstance(value, str):
            raise BadRequestException(f"Value at '{path}' must be a string.")
        _check_length(shape, value, path, errors)
        if shape.enum and value not in shape.enum:
            errors.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
            )
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadRequestException(f"Value at '{path}' must be an integer.")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise BadRequestException(f"Value at '{path}' must be a boolean.")
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise BadRequestException(f"Value at '{path}' must be a list.")
        _check_length(shape, value, path, errors)
        for index, item in enumerate(value, start=1):
            _check(shape.member, item, f"{path}.{index}.member", errors)
    elif isinstance(shape, MapShape | StructureShape):
        if not isinstance(value, dict):
            raise BadRequestException(f"Value at '{path}' must be a JSON object.")
        if isinstance(shape, MapShape):
            for key, item in value.items():
                _check(shape.value, item, f"{path}.{key}", errors)


# -- output ---------------------------------------------------------------------------------------------------


def _success(op: OperationModel, result: dict[str, Any]) -> Response:
    status = int(op.http.get("responseCode", 200))
    shape = op.output_shape
    if shape is None:
        return Response(b"", status)
    payload = shape.serialization.get("payload")
    if payload is not None:
        blob = result.get(payload, b"")
        return Response(blob, status, media_type="application/octet-stream")
    return Response(orjson.dumps(_serialize(shape, result)), status, media_type="application/json")


def _serialize(shape: Shape, value: Any) -> Any:
    if isinstance(shape, StructureShape):
        out: dict[str, Any] = {}
        for member, member_shape in shape.members.items():
            item = value.get(member)
            if item is not None:
                out[member_shape.serialization.get("name", member)] = _serialize(member_shape, item)
        return out
    if isinstance(shape, ListShape):
        return [_serialize(shape.member, item) for item in value]
    if isinstance(shape, MapShape):
        return {key: _serialize(shape.value, item) for key, item in value.items()}
    if shape.type_name == "timestamp" and isinstance(value, int | float):
        return iso8601(float(value))
    return value
