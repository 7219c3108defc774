"""`Services`: the ASGI app behind every path of the one port that router.app does not route itself.

It picks the `Service` a request is for, in this order, and hands the request (scope, receive, send) to it:

1. the `X-Amz-Target` prefix before the first dot (`AWSEvents`, `AmazonSQS`): a dict look-up, the hot path;
2. the SigV4 signing name of a signed request (`Credential=…/<name>/aws4_request`), for services with `signing_names`;
3. the longest matching path prefix among the services' `paths` (unsigned REST requests);
4. each service's own `match(request)`, in mount order.

A request signed for a service that is not mounted is not offered to path prefixes or `match`: it gets
router.services.not_served's error for that service even if its path looks like another service's. Whatever
matches nothing gets that error too, in the protocol the request speaks. Bodies are never read here, except a
form-encoded POST with no target and no signature (the query protocol, identified by its `Version=` field), read
up to `sniff_limit_bytes` to answer the error in the query protocol (a service that takes such requests matches
them before that, by signing name or `match`, and reads the body itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router.services.catalogue import identify, signing_name
from router.services.not_served import not_served_response, unknown_operation_response, unknown_request_response

__all__ = ["Service", "Services"]

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Service:
    """One service on the port: how to recognise its requests, and the ASGI app that answers them."""

    name: str
    """botocore's service name, e.g. `events`, `sqs`, `schemas`, `scheduler`."""
    title: str
    """The full name used in messages, e.g. `Amazon EventBridge`."""
    app: ASGIApp
    targets: tuple[str, ...] = ()
    """`X-Amz-Target` prefixes (the part before the dot) it answers: `("AWSEvents",)`."""
    signing_names: tuple[str, ...] = ()
    """SigV4 signing names whose signed requests are all its own: `("schemas",)`."""
    paths: tuple[str, ...] = ()
    """Path prefixes of unsigned requests it answers: `("/v1/registries",)` takes `/v1/registries/x` too."""
    match: Callable[[Request], bool] | None = None
    """Anything else; called with a body-less `Request` (headers, path, query) when nothing above matched."""


class Services:
    """The registry and dispatcher. `mount` adds a service; the app answers every request it is given."""

    def __init__(self, sniff_limit_bytes: int = 65_536) -> None:
        self.sniff_limit_bytes = sniff_limit_bytes
        self._services: list[Service] = []
        self._by_target: dict[str, Service] = {}
        self._by_signing_name: dict[str, Service] = {}
        self._by_path: list[tuple[str, Service]] = []

    def mount(self, service: Service) -> Service:
        for target in service.targets:
            if target in self._by_target:
                raise ValueError(f"X-Amz-Target prefix {target} is already mounted")
            self._by_target[target] = service
        for name in service.signing_names:
            if name in self._by_signing_name:
                raise ValueError(f"signing name {name} is already mounted")
            self._by_signing_name[name] = service
        for prefix in service.paths:
            if not prefix.startswith("/"):
                raise ValueError(f"path prefix {prefix!r} must start with /")
            self._by_path.append((prefix.rstrip("/") or "/", service))
        self._by_path.sort(key=lambda item: len(item[0]), reverse=True)
        self._services.append(service)
        return service

    @property
    def served(self) -> list[tuple[str, str]]:
        """(name, title) of every mounted service, in mount order."""
        return [(s.name, s.title) for s in self._services]

    def __iter__(self) -> Any:
        return iter(self._services)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        target = _header(scope, b"x-amz-target")
        if target is not None:
            service = self._by_target.get(target.split(".", 1)[0])
            if service is not None:
                await service.app(scope, receive, send)
                return
            await self._not_served(scope, receive, send)
            return
        headers = Headers(scope=scope)
        query_string = scope.get("query_string", b"").decode("latin-1")
        name = signing_name(headers, query_string)
        if name is not None:
            service = self._by_signing_name.get(name)
            if service is not None:
                await service.app(scope, receive, send)
                return
            if name not in {s.name for s in self._services}:
                await self._not_served(scope, receive, send)
                return
        path: str = scope["path"]
        for prefix, service in self._by_path:
            if path == prefix or path.startswith(prefix + "/") or prefix == "/":
                await service.app(scope, receive, send)
                return
        request = Request(scope)
        for service in self._services:
            if service.match is not None and service.match(request):
                await service.app(scope, receive, send)
                return
        await self._not_served(scope, receive, send)

    async def _not_served(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        method: str = scope["method"]
        path: str = scope["path"]
        query_string = scope.get("query_string", b"").decode("latin-1")
        form = None
        request_protocol: str | None = None
        json_version: str | None = None
        content_type = headers.get("content-type", "")
        if "x-amz-target" in headers:
            request_protocol = "json"
            if content_type.startswith("application/x-amz-json-"):
                json_version = content_type[len("application/x-amz-json-") :].split(";", 1)[0].strip() or None
        elif headers.get("smithy-protocol") == "rpc-v2-cbor":
            request_protocol = "smithy-rpc-v2-cbor"
        elif method == "POST" and content_type.startswith(FORM):
            form = await self._sniff_form(receive)
            if form is not None and "Action" in form:
                request_protocol = "query"
        service = identify(headers, path, query_string, form)
        if service is None:
            response = unknown_request_response(method, path, self.served)
        elif any(s.name == service.name for s in self._services):
            response = unknown_operation_response(
                service, method, path, request_protocol=request_protocol, json_version=json_version
            )
        else:
            response = not_served_response(
                service, self.served, method=method, request_protocol=request_protocol, json_version=json_version
            )
        await response(scope, receive, send)

    async def _sniff_form(self, receive: Receive) -> dict[str, str] | None:
        """The form fields of a small body (None when it is larger than the sniff limit or not a form)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message: Message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.sniff_limit_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        try:
            return dict(parse_qsl(b"".join(chunks).decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
