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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from router.errors import ResourceAlreadyExistsException, ResourceNotFoundException
from router.quotas import limit_exceeded

__all__ = ["Change", "Kind", "Records"]

Change = Callable[[dict[str, Any], bytes | None], tuple[dict[str, Any], str | None]]
"""`(record, stored secret) -> (new record, new secret)`; the new secret None keeps it, "" deletes it."""

# KEYS[1] records hash, KEYS[2] secrets hash (or the records hash again); ARGV name, record, secret, limit
_CREATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if tonumber(ARGV[4]) > 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
return 1
"""
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
    def __init__(self, redis: aioredis.Redis, kind: Kind, records_key: str, secrets_key: str | None = None) -> None:
        self.redis = redis
        self.kind = kind
        self._records = records_key
        self._secrets = secrets_key

    async def create(self, name: str, record: dict[str, Any], secret: str = "") -> None:
        """Write a new record (and its secret); ResourceAlreadyExists or LimitExceeded as AWS answers."""
        keys = [self._records, self._secrets or self._records]
        created = await self.redis.eval(_CREATE, 2, *keys, name, orjson.dumps(record), secret, self.kind.limit)
        if created == 0:
            raise ResourceAlreadyExistsException(self.kind.exists_message(name))
        if created == -1:
            raise limit_exceeded()

    async def get(self, name: str) -> dict[str, Any]:
        raw = await self.redis.hget(self._records, name)
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
        return sorted((orjson.loads(v) for v in raw.values()), key=lambda r: r["Name"])

    async def secret(self, name: str) -> bytes | None:
        if self._secrets is None:
            return None
        return _bytes(await self.redis.hget(self._secrets, name))

    async def update(self, name: str, change: Change) -> dict[str, Any]:
        """Apply `change` to the stored record (and secret) atomically; the new record."""
        watched = [self._records] if self._secrets is None else [self._records, self._secrets]
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(*watched)
                    raw = await pipe.hget(self._records, name)
                    if raw is None:
                        raise self.kind.not_found(name)
                    stored = await pipe.hget(self._secrets, name) if self._secrets is not None else None
                    record, secret = change(orjson.loads(raw), _bytes(stored))
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(self._records, name, orjson.dumps(record))
                    if self._secrets is not None and secret == "":
                        pipe.hdel(self._secrets, name)
                    elif self._secrets is not None and secret is not None:
                        pipe.hset(self._secrets, name, secret)
                    await pipe.execute()
                    return record
                except WatchError:
                    continue

    async def delete(self, name: str) -> dict[str, Any]:
        """Remove the record and its secret; the record as it was."""
        raw = await self.redis.eval(_DELETE, 2, self._records, self._secrets or self._records, name)
        if raw is None:
            raise self.kind.not_found(name)
        record: dict[str, Any] = orjson.loads(raw)
        return record


def _bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value
