"""One kind of account-wide record in Redis (connections, API destinations): create, read, list, update, delete.

Connections and API destinations are stored the same way, so one `Records` serves both: a hash of JSON records by
name in the `{meta}` slot, optionally with a second hash of secrets beside it (a connection's encrypted
credentials; what the secret holds is the caller's business). The rules they share:

- create is one Lua script: the name must be free and the kind under its quota, then the record (and the
  secret) are written together;
- an ARN resolves only to the record that carries exactly that ARN, so an ARN taken before a delete and
  re-create of the same name no longer resolves;
- update applies a caller's change under WATCH/MULTI, retried when the record or its secret changed meanwhile;
- delete is one Lua script that removes the record and its secret and returns the record.

`router.connections.store` holds one `Records` per kind and adds what differs: the record's members, the states
and the credentials.

A `Records` is bound to one (account, region) namespace (router.namespace; `within` gives another's): a record's
hash field is its key-layout name (router.keys `Keys.scoped`: the bare name in the home namespace,
`ACCOUNT@REGION@NAME` in any other), `list` shows only the namespace's records and the quota counts only them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from router.errors import ResourceAlreadyExistsException, ResourceNotFoundException
from router.keys import Keys
from router.namespace import Namespace, rebound
from router.quotas import limit_exceeded
from router.store.scripts import NAMESPACE_COUNT

__all__ = ["Change", "Kind", "Records"]

Change = Callable[[dict[str, Any], bytes | None], tuple[dict[str, Any], str | None]]
"""`(record, stored secret) -> (new record, new secret)`; the new secret None keeps it, "" deletes it."""

# KEYS[1] records hash, KEYS[2] secrets hash (or the records hash again); ARGV field, record, secret, limit, what
# the namespace's fields start with ('' = the home namespace: the fields without '@')
_CREATE = (
    NAMESPACE_COUNT
    + """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local limit = tonumber(ARGV[4])
if limit > 0 and namespace_count(KEYS[1], ARGV[5]) >= limit then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
return 1
"""
)
# KEYS[1] records hash, KEYS[2] secrets hash (or the records hash again); ARGV name -> the deleted record, or false
_DELETE = """
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
if KEYS[2] ~= KEYS[1] then redis.call('HDEL', KEYS[2], ARGV[1]) end
return record
"""


@dataclass(frozen=True, slots=True)
class Kind:
    """What tells one kind of record from another: its ARN resource type, ARN member, quota and messages."""

    resource: str
    """The ARN's resource type: `connection` in `arn:aws:events:R:A:connection/NAME/UUID`."""
    arn_member: str
    limit: int
    not_found: Callable[[str], ResourceNotFoundException]
    exists_message: Callable[[str], str]


class Records:
    def __init__(
        self,
        redis: aioredis.Redis,
        kind: Kind,
        records_key: str,
        secrets_key: str | None = None,
        *,
        keys: Keys | None = None,
        namespace: Namespace | None = None,
    ) -> None:
        self.redis = redis
        self.kind = kind
        self._records = records_key
        self._secrets = secrets_key
        self._keys = keys or Keys()
        self.namespace = namespace or self._keys.home

    def within(self, namespace: Namespace) -> Records:
        """The same records of another namespace."""
        return rebound(self, namespace)

    def field(self, name: str) -> str:
        """The hash field (key-layout name, router.keys `Keys.scoped`) of record `name` of this namespace."""
        return self._keys.scoped(name, self.namespace)

    async def create(self, name: str, record: dict[str, Any], secret: str = "") -> None:
        """Write a new record (and its secret); ResourceAlreadyExists or LimitExceeded as AWS answers."""
        keys = [self._records, self._secrets or self._records]
        prefix = self._keys.scoped("", self.namespace)
        args = (self.field(name), orjson.dumps(record), secret, self.kind.limit, prefix)
        created = await self.redis.eval(_CREATE, 2, *keys, *args)
        if created == 0:
            raise ResourceAlreadyExistsException(self.kind.exists_message(name))
        if created == -1:
            raise limit_exceeded()

    async def get(self, name: str) -> dict[str, Any]:
        raw = await self.redis.hget(self._records, self.field(name))
        if raw is None:
            raise self.kind.not_found(name)
        record: dict[str, Any] = orjson.loads(raw)
        return record

    async def by_arn(self, arn: str) -> dict[str, Any]:
        """The record an ARN names; ResourceNotFound when there is none (or it was re-created since)."""
        name = arn.rsplit(f":{self.kind.resource}/", 1)[-1].split("/", 1)[0]
        record = await self.get(name)
        if record[self.kind.arn_member] != arn:
            raise self.kind.not_found(name)
        return record

    async def list(self) -> list[dict[str, Any]]:
        """Every record, by name."""
        raw = await self.redis.hgetall(self._records)
        mine = [v for f, v in raw.items() if self._keys.in_namespace(_text(f), self.namespace) is not None]
        return sorted((orjson.loads(v) for v in mine), key=lambda r: r["Name"])

    async def secret(self, name: str) -> bytes | None:
        if self._secrets is None:
            return None
        return _bytes(await self.redis.hget(self._secrets, self.field(name)))

    async def update(self, name: str, change: Change) -> dict[str, Any]:
        """Apply `change` to the stored record (and secret) atomically; the new record."""
        watched = [self._records] if self._secrets is None else [self._records, self._secrets]
        field = self.field(name)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(*watched)
                    raw = await pipe.hget(self._records, field)
                    if raw is None:
                        raise self.kind.not_found(name)
                    stored = await pipe.hget(self._secrets, field) if self._secrets is not None else None
                    record, secret = change(orjson.loads(raw), _bytes(stored))
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(self._records, field, orjson.dumps(record))
                    if self._secrets is not None and secret == "":
                        pipe.hdel(self._secrets, field)
                    elif self._secrets is not None and secret is not None:
                        pipe.hset(self._secrets, field, secret)
                    await pipe.execute()
                    return record
                except WatchError:
                    continue

    async def delete(self, name: str) -> dict[str, Any]:
        """Remove the record and its secret; the record as it was."""
        raw = await self.redis.eval(_DELETE, 2, self._records, self._secrets or self._records, self.field(name))
        if raw is None:
            raise self.kind.not_found(name)
        record: dict[str, Any] = orjson.loads(raw)
        return record


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value
