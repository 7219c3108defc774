"""Connections and API destinations in Redis: records, encrypted credentials, ARNs and states.

Both are account-wide, so they live in the `{meta}` slot (see router.keys): one hash of public connection records,
one hash of encrypted credentials, one hash of API destination records. Describe and List read only the public
hash, so no code path that answers them can reach a secret: the public record keeps Username, ApiKeyName, the OAuth
ClientID and the non-secret HTTP parameters (`IsValueSecret: true` values are dropped), and the full
`AuthParameters` go to the secrets hash, Fernet-encrypted (router.connections.secrets).

Creates and deletes are single Lua scripts (exists check, quota check and both writes together); updates are
optimistic WATCH/MULTI transactions, retried on a concurrent change.

States: a BASIC or API_KEY connection is AUTHORIZED as soon as it is created. An OAUTH_CLIENT_CREDENTIALS connection
starts AUTHORIZING and becomes AUTHORIZED when the first token fetch succeeds (router.connections.auth records
that), DEAUTHORIZED with a StateReason when it fails. DeauthorizeConnection deletes the credentials and answers
DEAUTHORIZING; the stored state is DEAUTHORIZED at once. DeleteConnection answers DELETING.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from router.connections.endpoints import check_endpoint
from router.connections.secrets import SecretBox, SecretsUnavailable
from router.errors import (
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from router.keys import Keys
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

# KEYS[1] records hash, KEYS[2] secrets hash (or the records hash again); ARGV name, record, secret, limit
_CREATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
return 1
"""
# KEYS[1] records hash, KEYS[2] secrets hash; ARGV name -> the deleted record, or false
_DELETE = """
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return record
"""


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
    if auth.get("InvocationHttpParameters"):
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


class ConnectionStore:
    """All reads and writes of connections and API destinations. Handlers and the delivery engine share it."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, settings: Settings, box: SecretBox) -> None:
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.box = box
        self._arn_prefix = f"arn:aws:events:{settings.region}:{settings.account_id}:"

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
            "ConnectionArn": f"{self._arn_prefix}connection/{name}/{uuid.uuid4()}",
            "Description": body.get("Description"),
            "AuthorizationType": auth_type,
            "ConnectionState": _initial_state(auth_type),
            "SecretArn": self._secret_arn(name),
            "KmsKeyIdentifier": body.get("KmsKeyIdentifier"),
            "InvocationConnectivityParameters": body.get("InvocationConnectivityParameters"),
            "AuthParameters": public_auth_parameters(auth),
            "CreationTime": now,
            "LastModifiedTime": now,
            "LastAuthorizedTime": now if auth_type != "OAUTH_CLIENT_CREDENTIALS" else None,
        }
        keys = [self.keys.connections, self.keys.connection_secrets]
        args = [name, orjson.dumps(record), self.box.encrypt(auth), CONNECTION_LIMIT]
        created = await self.redis.eval(_CREATE, 2, *keys, *args)
        if created == 0:
            raise ResourceAlreadyExistsException(f"Connection {name} already exists.")
        if created == -1:
            raise LimitExceededException("The requested resource exceeds the maximum number allowed.")
        return record

    async def get_connection(self, name: str) -> dict[str, Any]:
        raw = await self.redis.hget(self.keys.connections, name)
        if raw is None:
            raise connection_not_found(name)
        record: dict[str, Any] = orjson.loads(raw)
        return record

    async def connection_by_arn(self, arn: str) -> dict[str, Any]:
        """The connection an ARN names; ResourceNotFound when there is none (or it was re-created since)."""
        name = arn.rsplit(":connection/", 1)[-1].split("/", 1)[0]
        record = await self.get_connection(name)
        if record["ConnectionArn"] != arn:
            raise connection_not_found(name)
        return record

    async def list_connections(self) -> list[dict[str, Any]]:
        raw = await self.redis.hgetall(self.keys.connections)
        return sorted((orjson.loads(v) for v in raw.values()), key=lambda r: r["Name"])

    async def connection_secrets(self, name: str) -> dict[str, Any] | None:
        """The full, decrypted AuthParameters; None after DeauthorizeConnection."""
        raw = await self.redis.hget(self.keys.connection_secrets, name)
        if raw is None:
            return None
        secrets: dict[str, Any] = self.box.decrypt(raw)
        return secrets

    async def update_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["Name"]

        def change(record: dict[str, Any], stored: dict[str, Any] | None) -> tuple[dict[str, Any], str | None]:
            secrets = stored or {}
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
            if auth_type != "OAUTH_CLIENT_CREDENTIALS":
                record["LastAuthorizedTime"] = now
            return record, self.box.encrypt(auth)

        return await self._update(name, change)

    async def set_connection_state(self, name: str, state: str, reason: str | None = None) -> None:
        """Record an authorization outcome (router.connections.auth); a no-op if the connection is gone."""

        def change(record: dict[str, Any], _: dict[str, Any] | None) -> tuple[dict[str, Any], str | None]:
            record["ConnectionState"] = state
            if reason:
                record["StateReason"] = reason
            else:
                record.pop("StateReason", None)
            if state == "AUTHORIZED":
                record["LastAuthorizedTime"] = time.time()
            return record, None

        try:
            await self._update(name, change)
        except ResourceNotFoundException:
            return

    async def deauthorize_connection(self, name: str) -> dict[str, Any]:
        def change(record: dict[str, Any], _: dict[str, Any] | None) -> tuple[dict[str, Any], str | None]:
            record["ConnectionState"] = "DEAUTHORIZED"
            record["LastModifiedTime"] = time.time()
            return record, ""

        record = await self._update(name, change)
        return {**record, "ConnectionState": "DEAUTHORIZING"}

    async def delete_connection(self, name: str) -> dict[str, Any]:
        keys = [self.keys.connections, self.keys.connection_secrets]
        raw = await self.redis.eval(_DELETE, 2, *keys, name)
        if raw is None:
            raise connection_not_found(name)
        record: dict[str, Any] = orjson.loads(raw)
        return {**record, "ConnectionState": "DELETING"}

    async def _update(
        self, name: str, change: Callable[[dict[str, Any], dict[str, Any] | None], tuple[dict[str, Any], str | None]]
    ) -> dict[str, Any]:
        """Apply `change(record, decrypted secrets)` under WATCH. It returns the record and the new encrypted
        secret (None keeps it, "" deletes it)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self.keys.connections, self.keys.connection_secrets)
                    raw = await pipe.hget(self.keys.connections, name)
                    if raw is None:
                        raise connection_not_found(name)
                    stored = await pipe.hget(self.keys.connection_secrets, name)
                    record, secret = change(orjson.loads(raw), self._decrypt_or_none(stored))
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(self.keys.connections, name, orjson.dumps(record))
                    if secret == "":
                        pipe.hdel(self.keys.connection_secrets, name)
                    elif secret is not None:
                        pipe.hset(self.keys.connection_secrets, name, secret)
                    await pipe.execute()
                    return record
                except WatchError:
                    continue

    def _decrypt_or_none(self, stored: bytes | str | None) -> dict[str, Any] | None:
        if stored is None:
            return None
        try:
            secrets: dict[str, Any] = self.box.decrypt(stored)
        except SecretsUnavailable:
            return None  # credentials encrypted with another key are as good as none: an update must resend them
        return secrets

    def _secret_arn(self, name: str) -> str:
        suffix = uuid.uuid4().hex[:6]
        region, account = self.settings.region, self.settings.account_id
        return f"arn:aws:secretsmanager:{region}:{account}:secret:events!connection/{name}/{uuid.uuid4()}-{suffix}"

    # --- API destinations ----------------------------------------------------------------------------

    async def create_destination(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["Name"]
        check_endpoint(body["InvocationEndpoint"], parameter="InvocationEndpoint", action="create", resource=_DEST)
        await self.connection_by_arn(body["ConnectionArn"])
        now = time.time()
        record: dict[str, Any] = {
            "Name": name,
            "ApiDestinationArn": f"{self._arn_prefix}api-destination/{name}/{uuid.uuid4()}",
            "Description": body.get("Description"),
            "ApiDestinationState": "ACTIVE",
            "ConnectionArn": body["ConnectionArn"],
            "InvocationEndpoint": body["InvocationEndpoint"],
            "HttpMethod": body["HttpMethod"],
            "InvocationRateLimitPerSecond": body.get("InvocationRateLimitPerSecond") or DEFAULT_RATE_LIMIT_PER_S,
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        keys = [self.keys.api_destinations, self.keys.api_destinations]
        args = [name, orjson.dumps(record), "", DESTINATION_LIMIT]
        created = await self.redis.eval(_CREATE, 2, *keys, *args)
        if created == 0:
            raise ResourceAlreadyExistsException(f"An api-destination {name} already exists.")
        if created == -1:
            raise LimitExceededException("The requested resource exceeds the maximum number allowed.")
        return record

    async def get_destination(self, name: str) -> dict[str, Any]:
        raw = await self.redis.hget(self.keys.api_destinations, name)
        if raw is None:
            raise destination_not_found(name)
        record: dict[str, Any] = orjson.loads(raw)
        return record

    async def destination_by_arn(self, arn: str) -> dict[str, Any]:
        name = arn.rsplit(":api-destination/", 1)[-1].split("/", 1)[0]
        record = await self.get_destination(name)
        if record["ApiDestinationArn"] != arn:
            raise destination_not_found(name)
        return record

    async def list_destinations(self) -> list[dict[str, Any]]:
        raw = await self.redis.hgetall(self.keys.api_destinations)
        return sorted((orjson.loads(v) for v in raw.values()), key=lambda r: r["Name"])

    async def update_destination(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["Name"]
        if body.get("InvocationEndpoint") is not None:
            check_endpoint(body["InvocationEndpoint"], parameter="InvocationEndpoint", action="update", resource=_DEST)
        if body.get("ConnectionArn") is not None:
            await self.connection_by_arn(body["ConnectionArn"])
        key = self.keys.api_destinations
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.hget(key, name)
                    if raw is None:
                        raise destination_not_found(name)
                    record = orjson.loads(raw)
                    for member in (
                        "Description",
                        "ConnectionArn",
                        "InvocationEndpoint",
                        "HttpMethod",
                        "InvocationRateLimitPerSecond",
                    ):
                        if body.get(member) is not None:
                            record[member] = body[member]
                    record["LastModifiedTime"] = time.time()
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, name, orjson.dumps(record))
                    await pipe.execute()
                    updated: dict[str, Any] = record
                    return updated
                except WatchError:
                    continue

    async def delete_destination(self, name: str) -> None:
        keys = [self.keys.api_destinations, self.keys.api_destinations]
        if await self.redis.eval(_DELETE, 2, *keys, name) is None:
            raise destination_not_found(name)
