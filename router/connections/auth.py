"""The credentials an API destination call carries, built from its connection; OAuth tokens fetched and cached.

`ConnectionAuth.authorize(connection_arn)` returns the headers, query parameters and body parameters the delivery
engine adds to a call: the auth header plus the connection's `InvocationHttpParameters` (secret values included;
they are secret from Describe, not from the target). By type:

- BASIC: `Authorization: Basic base64(Username:Password)`.
- API_KEY: a header named `ApiKeyName` with the value `ApiKeyValue`.
- OAUTH_CLIENT_CREDENTIALS: `Authorization: <token_type> <access_token>` from a client-credentials token request
  to `AuthorizationEndpoint` with the connection's `HttpMethod`: the client id and secret as HTTP Basic auth
  (RFC 6749 section 2.3.1), the `OAuthHttpParameters` headers and query parameters, and the body parameters
  form-encoded with `grant_type=client_credentials` unless the connection sets its own (for GET they go in the
  query string). The token is cached per connection and fetched again when it is within 60 s of `expires_in`
  (AWS refreshes "if the token is about to expire") or after `invalidate`, which the delivery engine calls on a 401
  or 407 from the target. A successful fetch marks the connection AUTHORIZED; a failed one marks it DEAUTHORIZED
  with the reason and raises `ConnectionUnauthorized`.

A token request has one deadline of 5 s in total (however slowly the server drips its answer) and reads at most
64 KiB of answer; either limit passed is a failed fetch. Failure reasons name the error's class, never the request's
text (which holds the client secret). Concurrent callers for one connection share one token fetch (a lock per
connection: the first fetches, the others wait and take its token).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from router.connections.secrets import SecretsUnavailable
from router.connections.store import ConnectionStore
from router.outbound import ResponseTooLarge, quiet_http_loggers, read_limited

__all__ = ["REFRESH_MARGIN_S", "Authorization", "ConnectionAuth", "ConnectionUnauthorized"]

REFRESH_MARGIN_S = 60.0
"""A cached token this close to its expiry is fetched again before use."""
TOKEN_TIMEOUT_S = 5.0
"""Deadline of one token request, in total (AWS's per-request timeout for API destinations)."""
TOKEN_RESPONSE_MAX_BYTES = 65_536
"""A token response longer than this (decoded) is refused without being read further."""


class ConnectionUnauthorized(Exception):
    """The connection has no usable credentials (deauthorized, undecryptable, or the token fetch failed)."""


@dataclass(frozen=True, slots=True)
class Authorization:
    """What a call through one connection adds to the request."""

    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Token:
    header: str
    expires_at: float | None


class ConnectionAuth:
    """Builds per-connection credentials; one per process (see router.api.connections' start-up hook)."""

    def __init__(
        self,
        store: ConnectionStore,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = TOKEN_TIMEOUT_S,
    ) -> None:
        quiet_http_loggers()
        self.store = store
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._clock = clock
        self._timeout_s = timeout_s
        self._tokens: dict[str, _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def authorize(self, connection_arn: str) -> Authorization:
        """The credentials for a call through `connection_arn` (ResourceNotFound if the connection is gone)."""
        store = self.store.for_arn(connection_arn)  # the connection's own namespace (router.namespace)
        record = await store.connection_by_arn(connection_arn)
        try:
            secrets = await store.connection_secrets(record["Name"])
        except SecretsUnavailable as err:
            raise ConnectionUnauthorized(f"Connection {record['Name']}: {err}") from err
        if secrets is None:
            raise ConnectionUnauthorized(f"Connection {record['Name']} is deauthorized.")
        auth = Authorization()
        auth_type = record["AuthorizationType"]
        if auth_type == "BASIC":
            basic = secrets["BasicAuthParameters"]
            auth.headers["Authorization"] = _basic(basic["Username"], basic["Password"])
        elif auth_type == "API_KEY":
            api_key = secrets["ApiKeyAuthParameters"]
            auth.headers[api_key["ApiKeyName"]] = api_key["ApiKeyValue"]
        else:
            auth.headers["Authorization"] = await self._token(record, secrets)
        _add_http_parameters(auth, secrets.get("InvocationHttpParameters") or {})
        return auth

    def invalidate(self, connection_arn: str) -> None:
        """Forget the cached token: the next `authorize` fetches a new one."""
        self._tokens.pop(connection_arn, None)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _token(self, record: dict[str, Any], secrets: dict[str, Any]) -> str:
        arn = record["ConnectionArn"]
        lock = self._locks.setdefault(arn, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(arn)
            if cached is not None and (
                cached.expires_at is None or cached.expires_at - REFRESH_MARGIN_S > self._clock()
            ):
                return cached.header
            try:
                token = await self._fetch(secrets["OAuthParameters"])
            except ConnectionUnauthorized as err:
                await self.store.for_arn(arn).set_connection_state(record["Name"], "DEAUTHORIZED", str(err))
                raise
            self._tokens[arn] = token
            if record["ConnectionState"] != "AUTHORIZED":
                await self.store.for_arn(arn).set_connection_state(record["Name"], "AUTHORIZED")
            return token.header

    async def _fetch(self, oauth: dict[str, Any]) -> _Token:
        client = oauth.get("ClientParameters") or {}
        extra = oauth.get("OAuthHttpParameters") or {}
        wanted = Authorization()
        _add_http_parameters(wanted, extra)
        wanted.body.setdefault("grant_type", "client_credentials")
        wanted.headers["Authorization"] = _basic(client["ClientID"], client["ClientSecret"])
        method = str(oauth.get("HttpMethod") or "POST").upper()  # AWS accepts any letter case ("put")
        query = dict(wanted.query)
        if method == "GET":
            query.update(wanted.body)
        started = self._clock()
        try:
            async with asyncio.timeout(self._timeout_s):
                request = self._client.build_request(
                    method,
                    oauth["AuthorizationEndpoint"],
                    params=query,
                    headers={**wanted.headers, "Accept-Encoding": "identity"},
                    data=None if method == "GET" else wanted.body,
                )
                response = await self._client.send(request, stream=True)
                try:
                    if not response.is_success:
                        raise ConnectionUnauthorized(f"Authorization endpoint answered HTTP {response.status_code}.")
                    body = await read_limited(response, TOKEN_RESPONSE_MAX_BYTES, raw=False)
                finally:
                    await response.aclose()
        except TimeoutError as err:
            raise ConnectionUnauthorized(
                f"Authorization endpoint did not answer within {self._timeout_s:g} s."
            ) from err
        except ResponseTooLarge as err:
            raise ConnectionUnauthorized(
                f"Authorization endpoint answered with more than {TOKEN_RESPONSE_MAX_BYTES} bytes."
            ) from err
        except (httpx.HTTPError, UnicodeEncodeError) as err:
            raise ConnectionUnauthorized(f"Authorization endpoint request failed: {_describe(err)}") from err
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as err:
            raise ConnectionUnauthorized("Authorization endpoint answered with a body that is not JSON.") from err
        access_token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(access_token, str) or not access_token:
            raise ConnectionUnauthorized("Authorization endpoint answered without an access_token.")
        token_type = payload.get("token_type") or "Bearer"
        expires_in = payload.get("expires_in")
        expires_at = started + float(expires_in) if isinstance(expires_in, int | float) else None
        return _Token(f"{token_type} {access_token}", expires_at)


def _describe(err: Exception) -> str:
    """An error's class and, where it cannot hold the request's text (a secret header), its message."""
    if isinstance(err, httpx.LocalProtocolError | httpx.InvalidURL | UnicodeEncodeError):
        return type(err).__name__
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _add_http_parameters(auth: Authorization, params: dict[str, Any]) -> None:
    for target, name in ((auth.headers, "HeaderParameters"), (auth.query, "QueryStringParameters")):
        for item in params.get(name) or []:
            target[item["Key"]] = item.get("Value", "")
    for item in params.get("BodyParameters") or []:
        auth.body[item["Key"]] = item.get("Value", "")
