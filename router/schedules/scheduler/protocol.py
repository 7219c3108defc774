"""EventBridge Scheduler's wire protocol (restJson1), read from botocore's `scheduler` 2021-06-30 model.

Each operation's method and URI template route the request; every input member is read from where the model puts
it (URI label, query string, JSON body), query integers parsed and `TagKeys` repeated; the assembled input is then
checked against the input shape by router.validation (AWS's "N validation errors detected: ..." text). The
handler's dict becomes the JSON body (timestamps as epoch seconds, which botocore reads). Errors carry the
`x-amzn-errortype` header and `{"Message": ...}` with the model's status (400, 404, 409, ...); anything unexpected is
logged and answered as InternalServerException, never a traceback. Each request runs in the (account, region)
namespace its SigV4 credential scope names (router.namespace), as the events API's do.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote

import botocore.session
import orjson
from botocore.model import OperationModel, ServiceModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from router import namespace as namespaces
from router.errors import ServiceError
from router.faults import STORAGE_ERRORS, fault_answer, log_fault
from router.protocol import read_body
from router.schedules.scheduler.errors import InternalServerException, ResourceNotFoundException, ValidationException
from router.state import AppState
from router.validation import validator_for

__all__ = ["PATHS", "Handler", "SchedulerApp", "scheduler_model"]

log = logging.getLogger("switchboard.scheduler")

Handler = Callable[[AppState, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]

PATHS = ("/schedules", "/schedule-groups")
"""Path prefixes by which unsigned Scheduler requests are recognised (signed ones go by the signing name)."""


@cache
def scheduler_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("scheduler")


@dataclass(frozen=True, slots=True)
class _Route:
    model: OperationModel
    method: str
    pattern: re.Pattern[str]
    literal: re.Pattern[str] | None
    """The template with its last label taking the rest of the path, `/` included (see `_routes`), if it ends in one."""
    validate: Callable[[dict[str, Any]], None]


def _routes(model: ServiceModel) -> list[_Route]:
    """One route per operation, from its URI template. A label matches one path segment (the SDKs percent-encode a
    label's value, `/` included: `/tags/arn%3Aaws%3Ascheduler%3A...%3Aschedule-group%2Fteam`); an ARN label that ends
    the template also matches the rest of the path when no route matched, so a tag ARN written literally, with its
    `/` (`/tags/arn:aws:scheduler:...:schedule-group/team`, as a hand-written request may), reaches its operation."""
    routes: list[_Route] = []
    for name in model.operation_names:
        op = model.operation_model(name)
        template = op.http["requestUri"].split("?")[0]
        regex = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m[1]}>[^/]+)", template)
        literal = None
        last = re.search(r"\{(\w+Arn)\}$", template)  # an ARN holds a `/`; names do not
        if last is not None:
            literal = re.compile(f"{regex[: -len('[^/]+)')]}.+)")
        assert op.input_shape is not None
        routes.append(_Route(op, op.http["method"], re.compile(regex), literal, validator_for(op.input_shape)))
    return routes


class SchedulerApp:
    """The ASGI app of the Scheduler API, mounted on the one port as a `router.services.Service`."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = dict(handlers)
        self._routes = _routes(scheduler_model())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        state: AppState = request.app.state.switchboard
        response = await self.handle(request, state)
        await response(scope, receive, send)

    def route(self, method: str, raw_path: str) -> tuple[_Route, dict[str, str]]:
        path_known = False
        for literal in (False, True):
            for route in self._routes:
                pattern = route.literal if literal else route.pattern
                found = pattern.fullmatch(raw_path) if pattern is not None else None
                if found is None:
                    continue
                path_known = True
                if route.method == method:
                    return route, {key: unquote(value) for key, value in found.groupdict().items()}
            if path_known:
                break
        if path_known:
            raise ResourceNotFoundException(f"EventBridge Scheduler has no {method} operation on {raw_path}.")
        raise ResourceNotFoundException(f"EventBridge Scheduler has no operation at {raw_path}.")

    async def handle(self, request: Request, state: AppState) -> Response:
        started = time.perf_counter()
        operation = "Unknown"
        try:
            raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").split("?")[0]
            route, labels = self.route(request.method, raw_path)
            operation = route.model.name
            body = await read_body(request, state.settings.max_request_body_bytes)
            params = _assemble(route.model, labels, request.scope.get("query_string", b"").decode("latin-1"), body)
            route.validate(params)
            handler = self.handlers[operation]
            with namespaces.entered(namespaces.resolve_scope(request.scope, state.home)):  # its account and region
                result = await handler(state, params)
            response = Response(orjson.dumps(dict(result or {})), 200, media_type="application/json")
        except ServiceError as err:
            if err.status >= 500:  # a store's storage fault (router.faults): Scheduler's own 500, same message
                if isinstance(err.__cause__, STORAGE_ERRORS):
                    log_fault(log, f"scheduler {operation}", err.__cause__)
                else:
                    log.error("scheduler %s failed: %s", operation, err.message)
                err = InternalServerException(err.message)
            response = error_response(err)
        except STORAGE_ERRORS as err:  # one error per storage fault class, as every protocol of the port
            response = error_response(InternalServerException(fault_answer(log, f"scheduler {operation}", err)))
        except Exception:  # the last line of defence: never a traceback on the wire
            log.exception("internal error in scheduler %s", operation)
            response = error_response(InternalServerException("An internal error occurred."))
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        metrics = state.extras.get("metrics")
        if metrics is not None:
            metrics.observe_request(f"scheduler.{operation}", response.status_code, time.perf_counter() - started)
        return response


def error_response(err: ServiceError) -> Response:
    body = orjson.dumps({"Message": err.message})
    return Response(body, err.status, media_type="application/json", headers={"x-amzn-errortype": err.code})


def _assemble(model: OperationModel, labels: dict[str, str], query: str, body: bytes) -> dict[str, Any]:
    """The operation's input, keyed by the model's member names."""
    shape = model.input_shape
    assert shape is not None
    params: dict[str, Any] = {}
    if body.strip():
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as err:
            raise ValidationException("The request body is not valid JSON.") from err
        if not isinstance(parsed, dict):
            raise ValidationException("The request body must be a JSON object.")
        for name, member in shape.members.items():
            if member.serialization.get("location") is None and name in parsed:
                params[name] = parsed[name]
    pairs = parse_qsl(query, keep_blank_values=True)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            params[name] = labels.get(wire, "")
        elif location == "querystring":
            values = [value for key, value in pairs if key == wire]
            if not values:
                continue
            if member.type_name == "list":
                params[name] = values
            elif member.type_name == "integer":
                try:
                    params[name] = int(values[0])
                except ValueError as err:
                    raise ValidationException(f"Parameter {wire} must be an integer.") from err
            else:
                params[name] = values[0]
    return params
