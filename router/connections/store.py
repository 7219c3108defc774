"""Connections and API destinations in Redis: records, encrypted credentials, ARNs and states.

Both belong to an account and region (router.namespace: a `ConnectionStore` is bound to one, `within` and `for_arn`
give another's) and live in the `{meta}` slot (see router.keys): one hash of public connection records,
one hash of encrypted credentials, one hash of API destination records. Describe and List read only the public
hash, so no code path that answers them can reach a secret: the public record keeps Username, ApiKeyName, the OAuth
ClientID and the non-secret HTTP parameters (`IsValueSecret: true` values are dropped), and the full
`AuthParameters` go to the secrets hash, Fernet-encrypted (router.connections.secrets).

The storage both kinds share (create with its exists and quota checks and both writes in one script, by-ARN
lookup, list, WATCH/MULTI update, delete) is router.connections.records, one `Records` per kind; this module
adds what differs: the members of each record, the checks on what a request may hold, the states and the
credentials.

States: a BASIC or API_KEY connection is AUTHORIZED as soon as it is created. An OAUTH_CLIENT_CREDENTIALS connection
starts AUTHORIZING and becomes AUTHORIZED when the first token fetch succeeds (router.connections.auth records
that), DEAUTHORIZED with a StateReason when it fails. DeauthorizeConnection deletes the credentials and answers
DEAUTHORIZING; the stored state is DEAUTHORIZED at once. DeleteConnection answers DELETING.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from router.connections.endpoints import check_endpoint
from router.connections.records import Kind, Records
from router.connections.secrets import SecretBox, SecretsUnavailable
from router.errors import ResourceNotFoundException, ValidationException
from router.keys import Keys
from router.namespace import Namespace, namespace_of_arn, rebound
from router.settings import Settings

__all__ = ["CONNECTION_LIMIT", "DESTINATION_LIMIT", "ConnectionStore", "public_auth_parameters"]

CONNECTION_LIMIT = 3000
"""AWS's default quota of connections per account and region."""
DESTINATION_LIMIT = 3000
"""AWS's default quota of API destinations per account and region."""
DEFAULT_RATE_LIMIT_PER_S = 300
"""InvocationRateLimitPerSecond when the request leaves it out (AWS's default)."""

_AUTH_MEMBER = {
    "BASIC": "BasicAuthParameters",
    "API_KEY": "ApiKeyAuthParameters",
    "OAUTH_CLIENT_CREDENTIALS": "OAuthParameters",
}
_REQUIRED = {
    "BasicAuthParameters": ("Username", "Password"),
    "ApiKeyAuthParameters": ("ApiKeyName", "ApiKeyValue"),
    "OAuthParameters": ("AuthorizationEndpoint", "HttpMethod"),
}
_HTTP_LISTS = ("HeaderParameters", "QueryStringParameters", "BodyParameters")
_DEST = "api-destination"
"""The resource named in API destination errors ("Failed to create the api-destination(s). ...")."""


def connection_not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Failed to describe the connection(s). Connection '{name}' does not exist.")


def destination_not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        f"Failed to describe the api-destination(s). An api-destination '{name}' does not exist."
    )


def public_auth_parameters(auth: dict[str, Any]) -> dict[str, Any]:
    """`AuthParameters` as Describe shows them: no password, API key value, client secret or secret HTTP value."""
    out: dict[str, Any] = {}
    if basic := auth.get("BasicAuthParameters"):
        out["BasicAuthParameters"] = {"Username": basic.get("Username")}
    if api_key := auth.get("ApiKeyAuthParameters"):
        out["ApiKeyAuthParameters"] = {"ApiKeyName": api_key.get("ApiKeyName")}
    if oauth := auth.get("OAuthParameters"):
        shown: dict[str, Any] = {
            "ClientParameters": {"ClientID": (oauth.get("ClientParameters") or {}).get("ClientID")},
            "AuthorizationEndpoint": oauth.get("AuthorizationEndpoint"),
            "HttpMethod": oauth.get("HttpMethod"),
        }
        if oauth.get("OAuthHttpParameters"):
            shown["OAuthHttpParameters"] = _public_http(oauth["OAuthHttpParameters"])
        out["OAuthParameters"] = shown
    if auth.get("InvocationHttpParameters") is not None:  # AWS echoes an empty one as {}
        out["InvocationHttpParameters"] = _public_http(auth["InvocationHttpParameters"])
    if auth.get("ConnectivityParameters"):
        out["ConnectivityParameters"] = auth["ConnectivityParameters"]
    return out


def _public_http(params: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name in _HTTP_LISTS:
        if name in params:
            shown[name] = [
                {"Key": p.get("Key"), "IsValueSecret": True} if p.get("IsValueSecret") else dict(p)
                for p in params[name] or []
            ]
    return shown


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of request structures: nested objects merge member by member, lists and scalars replace."""
    merged = dict(base)
    for key, value in update.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_auth(auth_type: str, auth: dict[str, Any], action: str) -> None:
    member = _AUTH_MEMBER[auth_type]
    params = auth.get(member) or {}
    required = _REQUIRED[member]
    missing = [name for name in required if not params.get(name)]
    if member == "OAuthParameters":
        client = params.get("ClientParameters") or {}
        missing += [name for name in ("ClientID", "ClientSecret") if not client.get(name)]
    if not params or missing:
        raise ValidationException(f"Parameter(s) {member} must be specified for AuthorizationType {auth_type}.")
    if member == "OAuthParameters":
        endpoint = str(params["AuthorizationEndpoint"])
        check_endpoint(endpoint, parameter="AuthorizationEndpoint", action=action, resource="connection")


def _initial_state(auth_type: str) -> str:
    return "AUTHORIZING" if auth_type == "OAUTH_CLIENT_CREDENTIALS" else "AUTHORIZED"


_CONNECTIONS = Kind(
    "connection",
    "ConnectionArn",
    CONNECTION_LIMIT,
    connection_not_found,
    lambda name: f"Connection {name} already exists.",
)
_DESTINATIONS = Kind(
    "api-destination",
    "ApiDestinationArn",
    DESTINATION_LIMIT,
    destination_not_found,
    lambda name: f"An api-destination {name} already exists.",
)
_DESTINATION_MEMBERS = (
    "Description",
    "ConnectionArn",
    "InvocationEndpoint",
    "HttpMethod",
    "InvocationRateLimitPerSecond",
)
"""What CreateApiDestination takes and UpdateApiDestination may change (besides Name)."""


class ConnectionStore:
    """All reads and writes of connections and API destinations. Handlers and the delivery engine share it."""

    def __init__(
        self, redis: aioredis.Redis, keys: Keys, settings: Settings, box: SecretBox, namespace: Namespace | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.box = box
        self.namespace = namespace or Namespace(settings.account_id, settings.region)
        quotas = settings.quotas  # the settings' quotas (AWS's 3,000 each by default); 0: no limit
        connections = dataclasses.replace(_CONNECTIONS, limit=quotas.connections)
        destinations = dataclasses.replace(_DESTINATIONS, limit=quotas.api_destinations)
        self._connections = Records(
            redis, connections, keys.connections, keys.connection_secrets, keys=keys, namespace=self.namespace
        )
        self._destinations = Records(redis, destinations, keys.api_destinations, keys=keys, namespace=self.namespace)

    @property
    def _arn_prefix(self) -> str:
        return f"arn:aws:events:{self.namespace.region}:{self.namespace.account_id}:"

    def within(self, namespace: Namespace) -> ConnectionStore:
        """The same store for the connections and API destinations of another namespace."""
        if namespace == self.namespace:
            return self
        other = rebound(self, namespace)
        other._connections = self._connections.within(namespace)
        other._destinations = self._destinations.within(namespace)
        return other

    def for_arn(self, arn: str) -> ConnectionStore:
        """The store of the namespace a connection or API destination ARN names (the delivery engine's way in:
        it holds ARNs of every namespace); this store for an ARN it cannot read."""
        found = namespace_of_arn(arn)
        return self if found is None else self.within(found)

    def rate_name(self, destination: dict[str, Any]) -> str:
        """The name an API destination's rate limit is kept under: its key-layout name (router.keys)."""
        return self._destinations.field(str(destination["Name"]))

    # --- connections ---------------------------------------------------------------------------------

    async def create_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["Name"]
        auth_type = body["AuthorizationType"]
        auth = {k: v for k, v in (body.get("AuthParameters") or {}).items() if v is not None}
        _check_auth(auth_type, auth, "create")
        auth = {k: v for k, v in auth.items() if k not in _AUTH_MEMBER.values() or k == _AUTH_MEMBER[auth_type]}
        now = time.time()
        record: dict[str, Any] = {
            "Name": name,
            "ConnectionArn": self._new_arn("connection", name),
            "Description": body.get("Description"),
            "AuthorizationType": auth_type,
            "ConnectionState": _initial_state(auth_type),
            "SecretArn": self._secret_arn(name),
            "KmsKeyIdentifier": body.get("KmsKeyIdentifier"),
            "InvocationConnectivityParameters": body.get("InvocationConnectivityParameters"),
            "AuthParameters": public_auth_parameters(auth),
            "CreationTime": now,
            "LastModifiedTime": now,
            "LastAuthorizedTime": now,  # AWS has it from creation on, for an OAuth connection in AUTHORIZING too
        }
        await self._connections.create(name, record, self.box.encrypt(auth))
        return record

    async def get_connection(self, name: str) -> dict[str, Any]:
        return await self._connections.get(name)

    async def connection_by_arn(self, arn: str) -> dict[str, Any]:
        """The connection an ARN names; ResourceNotFound when there is none (or it was re-created since)."""
        return await self._connections.by_arn(arn)

    async def list_connections(self) -> list[dict[str, Any]]:
        return await self._connections.list()

    async def connection_secrets(self, name: str) -> dict[str, Any] | None:
        """The full, decrypted AuthParameters; None after DeauthorizeConnection."""
        raw = await self._connections.secret(name)
        if raw is None:
            return None
        secrets: dict[str, Any] = self.box.decrypt(raw)
        return secrets

    async def update_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["Name"]

        def change(record: dict[str, Any], stored: bytes | None) -> tuple[dict[str, Any], str | None]:
            secrets = self._decrypt_or_none(stored) or {}
            auth_type = body.get("AuthorizationType") or record["AuthorizationType"]
            given = {k: v for k, v in (body.get("AuthParameters") or {}).items() if v is not None}
            if auth_type != record["AuthorizationType"]:
                base = {k: v for k, v in secrets.items() if k not in _AUTH_MEMBER.values()}
            else:
                base = secrets
            auth = _merge(base, given)
            reauthorize = bool(given) or auth_type != record["AuthorizationType"]
            now = time.time()
            for member in ("Description", "KmsKeyIdentifier", "InvocationConnectivityParameters"):
                if body.get(member) is not None:
                    record[member] = body[member]
            record["LastModifiedTime"] = now
            if not reauthorize:
                return record, None
            _check_auth(auth_type, auth, "update")
            record["AuthorizationType"] = auth_type
            record["AuthParameters"] = public_auth_parameters(auth)
            record["ConnectionState"] = _initial_state(auth_type)
            record.pop("StateReason", None)
            record["LastAuthorizedTime"] = now
            return record, self.box.encrypt(auth)

        return await self._connections.update(name, change)

    async def set_connection_state(self, name: str, state: str, reason: str | None = None) -> None:
        """Record an authorization outcome (router.connections.auth); a no-op if the connection is gone."""

        def change(record: dict[str, Any], _: bytes | None) -> tuple[dict[str, Any], str | None]:
            record["ConnectionState"] = state
            if reason:
                record["StateReason"] = reason
            else:
                record.pop("StateReason", None)
            if state == "AUTHORIZED":
                record["LastAuthorizedTime"] = time.time()
            return record, None

        try:
            await self._connections.update(name, change)
        except ResourceNotFoundException:
            return

    async def deauthorize_connection(self, name: str) -> dict[str, Any]:
        def change(record: dict[str, Any], _: bytes | None) -> tuple[dict[str, Any], str | None]:
            record["ConnectionState"] = "DEAUTHORIZED"
            record["LastModifiedTime"] = time.time()
            return record, ""

        record = await self._connections.update(name, change)
        return {**record, "ConnectionState": "DEAUTHORIZING"}

    async def delete_connection(self, name: str) -> dict[str, Any]:
        record = await self._connections.delete(name)
        return {**record, "ConnectionState": "DELETING"}

    def _decrypt_or_none(self, stored: bytes | None) -> dict[str, Any] | None:
        if stored is None:
            return None
        try:
            secrets: dict[str, Any] = self.box.decrypt(stored)
        except SecretsUnavailable:
            return None  # credentials encrypted with another key are as good as none: an update must resend them
        return secrets

    def _new_arn(self, resource: str, name: str) -> str:
        return f"{self._arn_prefix}{resource}/{name}/{uuid.uuid4()}"

    def _secret_arn(self, name: str) -> str:
        suffix = uuid.uuid4().hex[:6]
        region, account = self.namespace.region, self.namespace.account_id
        return f"arn:aws:secretsmanager:{region}:{account}:secret:events!connection/{name}/{uuid.uuid4()}-{suffix}"

    # --- API destinations ----------------------------------------------------------------------------

    async def create_destination(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["Name"]
        check_endpoint(body["InvocationEndpoint"], parameter="InvocationEndpoint", action="create", resource=_DEST)
        await self.connection_by_arn(body["ConnectionArn"])
        now = time.time()
        record: dict[str, Any] = {
            "Name": name,
            "ApiDestinationArn": self._new_arn("api-destination", name),
            "ApiDestinationState": "ACTIVE",
            **{member: body.get(member) for member in _DESTINATION_MEMBERS},
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        record["InvocationRateLimitPerSecond"] = body.get("InvocationRateLimitPerSecond") or DEFAULT_RATE_LIMIT_PER_S
        await self._destinations.create(name, record)
        return record

    async def get_destination(self, name: str) -> dict[str, Any]:
        return await self._destinations.get(name)

    async def destination_by_arn(self, arn: str) -> dict[str, Any]:
        return await self._destinations.by_arn(arn)

    async def list_destinations(self) -> list[dict[str, Any]]:
        return await self._destinations.list()

    async def update_destination(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("InvocationEndpoint") is not None:
            check_endpoint(body["InvocationEndpoint"], parameter="InvocationEndpoint", action="update", resource=_DEST)
        if body.get("ConnectionArn") is not None:
            await self.connection_by_arn(body["ConnectionArn"])

        def change(record: dict[str, Any], _: bytes | None) -> tuple[dict[str, Any], str | None]:
            record.update({member: body[member] for member in _DESTINATION_MEMBERS if body.get(member) is not None})
            record["LastModifiedTime"] = time.time()
            return record, None

        return await self._destinations.update(body["Name"], change)

    async def delete_destination(self, name: str) -> None:
        await self._destinations.delete(name)
