"""`RegistryStore`: registries, schemas, versions and resource policies in Redis (layout in `schemas.keys`).

Every change is one single-slot script (`schemas.scripts`). Schema changes are check-and-set: read the record,
compute the new one in Python, and let the script write it (and any version records) only if the record is still
what was read, so concurrent writers never lose an update and a schema and its versions always change together.
Records are plain JSON dicts; the API layer picks the fields a response shows.

Registries live in an (account, region) namespace (router.namespace), as on AWS: a store is bound to one (`within`,
the request's: `schemas.services.store`), takes registry names of that namespace, and keys each registry by its
key-layout name (`schemas.keys.registry_key`); its ARNs carry the namespace's account and region. Every namespace
has its own built-in registries.

The built-in registries `discovered-schemas` and `aws.events` always exist: until something is written to one
(a discovered schema, a tag) it is not stored at all, so starting the router writes no key; the first write
materializes it (`_materialize`). Users cannot create, update or delete them (the API layer enforces it, as AWS
does).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from router.keys import Keys
from router.namespace import Namespace, rebound
from schemas.arns import SchemaArns
from schemas.errors import (
    ConflictException,
    NotFoundException,
    PreconditionFailedException,
    ServiceUnavailableException,
)
from schemas.keys import SchemaKeys, registry_key, split_registry
from schemas.scripts import (
    CAS_ATTEMPTS,
    DROP_REGISTRY,
    HASH_CAS,
    PUT_BINDING,
    PUT_POLICY,
    SCHEMA_CAS,
    redis_errors,
    status,
)

__all__ = [
    "AWS_EVENTS",
    "BUILTIN_REGISTRIES",
    "DISCOVERED",
    "Record",
    "RegistryStore",
    "SchemaMutation",
    "now_s",
    "registry_not_found",
    "schema_not_found",
]

Record = dict[str, Any]

DISCOVERED = "discovered-schemas"
AWS_EVENTS = "aws.events"
BUILTIN_REGISTRIES = (AWS_EVENTS, DISCOVERED)

_BUILTIN_DESCRIPTIONS = {
    AWS_EVENTS: "Schemas for AWS services. The registry is read-only.",
    DISCOVERED: "Schemas discovered from the events on your event buses.",
}

SchemaMutation = Callable[[Record | None], tuple[Record | None, dict[str, Record | None]]]
"""Current schema record (None if absent) -> (new record or None to delete, {version: record or None to delete})."""


def now_s() -> float:
    return round(time.time(), 3)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _blob(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _load(raw: bytes | str) -> Record:
    value: Record = orjson.loads(raw)
    return value


class RegistryStore:
    """The registries of one namespace (`namespace`, the home one unless bound with `within`). Methods take registry
    names of that namespace; `keys` builds keys from key-layout names (`key`)."""

    def __init__(self, redis: aioredis.Redis, keys: SchemaKeys, router_keys: Keys, namespace: Namespace | None = None):
        self._redis = redis
        self.keys = keys
        self.router_keys = router_keys
        """The router's key layout: its home namespace, and the key-layout names of discoverers (`Keys.scoped`)."""
        self.namespace = namespace or router_keys.home
        self.hash_cas = redis.register_script(HASH_CAS)
        """The HASH_CAS script (also used for discoverers, schemas.discovery.discoverers)."""
        self._schema_cas = redis.register_script(SCHEMA_CAS)
        self._drop_registry = redis.register_script(DROP_REGISTRY)
        self._put_policy = redis.register_script(PUT_POLICY)
        self._put_binding = redis.register_script(PUT_BINDING)

    def within(self, namespace: Namespace) -> RegistryStore:
        """The same store for the registries of another namespace (sharing its scripts)."""
        return rebound(self, namespace)

    @property
    def arns(self) -> SchemaArns:
        """The Schemas ARNs of this namespace."""
        return SchemaArns(self.namespace.region, self.namespace.account_id)

    def key(self, registry: str) -> str:
        """The key-layout name of this namespace's registry `registry`."""
        return registry_key(registry, self.namespace, self.router_keys.home)

    @property
    def account_policy(self) -> str:
        """The key of this namespace's account-level policy."""
        return self.keys.namespace_policy(self.namespace, self.router_keys.home)

    # -- registries ------------------------------------------------------------------------------------------
    def _builtin(self, name: str) -> Record:
        return {
            "RegistryName": name,
            "RegistryArn": self.arns.registry(name),
            "Description": _BUILTIN_DESCRIPTIONS[name],
            "Tags": {},
            "CreatedAt": 0.0,
        }

    async def _materialize(self, name: str) -> None:
        """Store a built-in registry (index entry and marker) before the first write to it; idempotent."""
        if name not in BUILTIN_REGISTRIES:
            return
        with redis_errors("create registry"):
            await self._redis.set(self.keys.registry_exists(self.key(name)), b"1")
            await self._redis.hsetnx(self.keys.registries, self.key(name), orjson.dumps(self._builtin(name)))

    async def get_registry(self, name: str) -> Record | None:
        with redis_errors("read registry"):
            raw = await self._redis.hget(self.keys.registries, self.key(name))
        if raw is None:
            return self._builtin(name) if name in BUILTIN_REGISTRIES else None
        return _load(raw)

    async def all_registries(self) -> list[Record]:
        with redis_errors("list registries"):
            raw = await self._redis.hgetall(self.keys.registries)
        home = self.router_keys.home
        mine = ((split_registry(_text(key), home), value) for key, value in raw.items())
        found = {name: _load(value) for (owner, name), value in mine if owner == self.namespace}
        for name in BUILTIN_REGISTRIES:
            found.setdefault(name, self._builtin(name))
        return [found[name] for name in sorted(found)]

    async def create_registry(self, name: str, description: str | None, tags: dict[str, str]) -> Record:
        record: Record = {
            "RegistryName": name,
            "RegistryArn": self.arns.registry(name),
            "Description": description,
            "Tags": tags,
            "CreatedAt": now_s(),
        }
        key = self.key(name)
        with redis_errors("create registry"):
            await self._redis.set(self.keys.registry_exists(key), b"1")
            outcome = status(await self.hash_cas(keys=[self.keys.registries], args=[key, b"", orjson.dumps(record)]))
        if outcome != "OK":
            raise ConflictException(f"Registry with name {name} already exists.")
        return record

    async def update_registry(self, name: str, mutate: Callable[[Record], Record]) -> Record:
        await self._materialize(name)
        for _ in range(CAS_ATTEMPTS):
            with redis_errors("update registry"):
                raw = await self._redis.hget(self.keys.registries, self.key(name))
                if raw is None:
                    raise registry_not_found(name)
                new = mutate(_load(raw))
                args = [self.key(name), raw, orjson.dumps(new)]
                if status(await self.hash_cas(keys=[self.keys.registries], args=args)) == "OK":
                    return new
        raise ServiceUnavailableException("The registry is being changed concurrently; try again.")

    async def delete_registry(self, name: str) -> None:
        k, key = self.keys, self.key(name)
        with redis_errors("delete registry"):
            if not await self._redis.hdel(k.registries, key):
                raise registry_not_found(name)
            for _ in range(CAS_ATTEMPTS):
                names = sorted(_text(n) for n in await self._redis.hkeys(k.schemas(key)))
                keys = [k.registry_exists(key), k.schemas(key), k.registry_policy(key)]
                for schema in names:
                    keys += k.schema_keys(key, schema)
                if status(await self._drop_registry(keys=keys, args=names)) == "OK":
                    return
        raise ServiceUnavailableException("The registry is being changed concurrently; try again.")

    # -- schemas ---------------------------------------------------------------------------------------------
    async def get_schema(self, registry: str, name: str) -> Record | None:
        with redis_errors("read schema"):
            raw = await self._redis.hget(self.keys.schemas(self.key(registry)), name)
        return _load(raw) if raw is not None else None

    async def all_schemas(self, registry: str) -> list[Record]:
        with redis_errors("list schemas"):
            raw = await self._redis.hgetall(self.keys.schemas(self.key(registry)))
        return [_load(value) for _, value in sorted(raw.items())]

    async def get_version(self, registry: str, name: str, version: str) -> Record | None:
        with redis_errors("read schema version"):
            raw = await self._redis.hget(self.keys.versions(self.key(registry), name), version)
        return _load(raw) if raw is not None else None

    async def all_versions(self, registry: str, name: str) -> list[Record]:
        """Every version record of a schema, oldest first."""
        with redis_errors("list schema versions"):
            raw = await self._redis.hgetall(self.keys.versions(self.key(registry), name))
        return [_load(value) for _, value in sorted(raw.items(), key=lambda item: int(item[0]))]

    async def change_schema(self, registry: str, name: str, mutate: SchemaMutation) -> Record | None:
        """Apply `mutate` atomically (check-and-set); returns the new record (None when deleted)."""
        k, key = self.keys, self.key(registry)
        keys = [k.registry_exists(key), k.schemas(key), *k.schema_keys(key, name)]
        await self._materialize(registry)
        for _ in range(CAS_ATTEMPTS):
            with redis_errors("change schema"):
                raw = await self._redis.hget(k.schemas(key), name)
                new, versions = mutate(_load(raw) if raw is not None else None)
                args: list[Any] = [name, raw or b"", orjson.dumps(new) if new is not None else b""]
                for version, record in versions.items():
                    args += [version, orjson.dumps(record) if record is not None else b""]
                outcome = status(await self._schema_cas(keys=keys, args=args))
            if outcome == "OK":
                return new
            if outcome == "NOREG":
                raise registry_not_found(registry)
        raise ServiceUnavailableException("The schema is being changed concurrently; try again.")

    # -- code bindings ---------------------------------------------------------------------------------------
    async def get_binding(self, registry: str, schema: str, field: str) -> tuple[Record | None, bytes | None]:
        """The binding record for `Language:version` and its source (None until generated)."""
        with redis_errors("read code binding"):
            raw = await self._redis.hget(self.keys.bindings(self.key(registry), schema), field)
            source = await self._redis.hget(self.keys.binding_sources(self.key(registry), schema), field)
        return (_load(raw) if raw is not None else None), (_blob(source) if source is not None else None)

    async def put_binding(
        self,
        registry: str,
        schema: str,
        version: str,
        field: str,
        record: Record,
        *,
        source: bytes | None = None,
        expected: Record | bool | None = True,
    ) -> bool:
        """Write a binding record (and its source) if the schema version still exists; with `expected` (a record,
        or None for absent) only if the current record is that one. Returns False when that check failed."""
        k, key = self.keys, self.key(registry)
        keys = [k.registry_exists(key), k.schemas(key), *k.schema_keys(key, schema)]
        if expected is True:
            condition: bytes = b""
        elif expected is None or expected is False:
            condition = b"-"
        else:
            condition = orjson.dumps(expected)
        args: list[str | bytes] = [schema, version, field, orjson.dumps(record), source or b"", condition]
        with redis_errors("write code binding"):
            outcome = status(await self._put_binding(keys=keys, args=args))
        if outcome == "NOREG":
            raise registry_not_found(registry)
        if outcome == "NOSCHEMA":
            raise schema_not_found(registry, schema)
        if outcome == "NOVERSION":
            raise NotFoundException(f"Schema {schema} has no version {version}.")
        return outcome == "OK"

    # -- resource policies -----------------------------------------------------------------------------------
    def _policy_keys(self, registry: str | None) -> list[str]:
        if registry is None:
            return [self.account_policy, self.account_policy]
        return [self.keys.registry_policy(self.key(registry)), self.keys.registry_exists(self.key(registry))]

    async def get_policy(self, registry: str | None) -> Record | None:
        with redis_errors("read policy"):
            raw = await self._redis.get(self._policy_keys(registry)[0])
        return _load(raw) if raw is not None else None

    async def put_policy(self, registry: str | None, record: Record | None, expected_revision: str | None) -> None:
        args: list[str | bytes] = [expected_revision or "", orjson.dumps(record) if record is not None else b""]
        if registry is not None and record is not None:
            await self._materialize(registry)
        with redis_errors("put policy"):
            outcome = status(await self._put_policy(keys=self._policy_keys(registry), args=args))
        if outcome == "NOREG":
            raise registry_not_found(registry or "")
        if outcome == "PRECONDITION":
            raise PreconditionFailedException(f"Policy revision {expected_revision} is not the current revision.")
        if outcome == "NOPOLICY":
            raise NotFoundException("Resource policy not found.")


def registry_not_found(name: str) -> NotFoundException:
    return NotFoundException(f"Registry with name {name} does not exist.")


def schema_not_found(registry: str, name: str) -> NotFoundException:
    return NotFoundException(f"Schema with name {name} does not exist in registry {registry}.")
