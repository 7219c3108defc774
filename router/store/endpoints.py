"""Global endpoints in Redis: the records, their ids, and the health checks that fail them over.

An endpoint record (JSON) holds what CreateEndpoint/UpdateEndpoint were given (`Name`, `Description`,
`RoutingConfig`, `ReplicationConfig`, `EventBuses`, `RoleArn`) and what Switchboard made (`Arn`, `EndpointId`,
`State`, `StateReason`, `CreationTime`, `LastModifiedTime`), and `HealthCheckId` (the id part of the primary's
health-check ARN). Three keys hold everything (router.keys): `endpoints` (the endpoint's key-layout name, its name
in its (account, region) namespace as `Keys.scoped` writes it -> record), `endpoint-ids` (the id PutEvents names
-> that key-layout name: ids are unique across namespaces, as a host name is) and `health-checks` (Route 53
health-check id -> `HEALTHY` / `UNHEALTHY`; absent means healthy). They share the `{meta}` slot, so each change
below is one single-slot script and runs unchanged on Redis Cluster:

- create: the name must be free and the count under the endpoints quota, then the record and its id are written
  together (concurrent creates never pass the quota nor share a name);
- replace: a check-and-set against the record the caller read; a lost race is reported, not retried, because
  AWS answers ConcurrentModificationException when an endpoint is changed while another change is under way;
- delete: the same check-and-set, removing the record and its id together;
- route: PutEvents' one round trip: the record an id names and the status of its primary's health check.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from router.keys import Keys
from router.namespace import Namespace
from router.state import AppState
from router.store.scripts import redis_errors, status

__all__ = ["HEALTHY", "UNHEALTHY", "EndpointStore", "endpoint_store", "health_check_id"]

HEALTHY = "HEALTHY"
UNHEALTHY = "UNHEALTHY"

_CREATE = """
-- KEYS: endpoints, endpoint ids ; ARGV: key-layout name, record, id, most endpoints in the namespace (0: no limit),
--       what the namespace's fields start with ('' = the home namespace: the fields without '@')
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'EXISTS' end
local limit = tonumber(ARGV[4])
if limit > 0 then
  local prefix, count = ARGV[5], 0
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if prefix == '' then
      if not string.find(field, '@', 1, true) then count = count + 1 end
    elseif string.sub(field, 1, #prefix) == prefix then
      count = count + 1
    end
  end
  if count >= limit then return 'LIMIT' end
end
if redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[1]) == 0 then return 'IDTAKEN' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'OK'
"""

_REPLACE = """
-- KEYS: endpoints, endpoint ids ; ARGV: key-layout name, expected record, new record ('' = delete), the record's id
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current == false then return 'NOTFOUND' end
if current ~= ARGV[2] then return 'CHANGED' end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[4])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return 'OK'
"""

_ROUTE = """
-- KEYS: endpoints, endpoint ids, health checks ; ARGV: endpoint id
-- Returns {record, health status, key-layout name} ({} when the id names no endpoint; status false when never set)
local name = redis.call('HGET', KEYS[2], ARGV[1])
if name == false then return {} end
local record = redis.call('HGET', KEYS[1], name)
if record == false then return {} end
local check = cjson.decode(record)['HealthCheckId']
local health = false
if type(check) == 'string' then health = redis.call('HGET', KEYS[3], check) end
return {record, health, name}
"""


def health_check_id(arn_or_id: str) -> str:
    """The id part of a Route 53 health-check ARN (`arn:aws:route53:::healthcheck/ID`), or the id itself."""
    return arn_or_id.rsplit("healthcheck/", 1)[-1]


class EndpointStore:
    """Every namespace's endpoints; each method names the namespace it works in."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._create = redis.register_script(_CREATE)
        self._replace = redis.register_script(_REPLACE)
        self._route = redis.register_script(_ROUTE)

    async def create(self, namespace: Namespace, record: dict[str, Any], limit: int) -> str:
        """Store a new endpoint: `OK`, `EXISTS` (the name is taken), `LIMIT` (quota) or `IDTAKEN` (id clash)."""
        keys = [self._keys.endpoints, self._keys.endpoint_ids]
        field = self._keys.scoped(record["Name"], namespace)
        args = [field, orjson.dumps(record), record["EndpointId"], limit, self._keys.scoped("", namespace)]
        with redis_errors("CreateEndpoint"):
            return status(await self._create(keys=keys, args=args))

    async def get(self, namespace: Namespace, name: str) -> tuple[dict[str, Any], bytes] | None:
        """The record and its stored bytes (the check-and-set's expected value), or None."""
        with redis_errors("read endpoint"):
            raw = await self._redis.hget(self._keys.endpoints, self._keys.scoped(name, namespace))
        if raw is None:
            return None
        stored = raw if isinstance(raw, bytes) else raw.encode()
        return orjson.loads(stored), stored

    async def all(self, namespace: Namespace) -> list[dict[str, Any]]:
        """The namespace's endpoints, sorted by name."""
        with redis_errors("list endpoints"):
            raw = await self._redis.hgetall(self._keys.endpoints)
        mine = {}
        for field, value in raw.items():
            name = self._keys.in_namespace(field.decode() if isinstance(field, bytes) else str(field), namespace)
            if name is not None:
                mine[name] = value
        return [orjson.loads(mine[name]) for name in sorted(mine)]

    async def replace(self, namespace: Namespace, name: str, expected: bytes, new: dict[str, Any] | None) -> str:
        """Write `new` (None: delete) if the record is still `expected`: `OK`, `CHANGED` or `NOTFOUND`."""
        endpoint_id = orjson.loads(expected)["EndpointId"]
        keys = [self._keys.endpoints, self._keys.endpoint_ids]
        args = [self._keys.scoped(name, namespace), expected, b"" if new is None else orjson.dumps(new), endpoint_id]
        with redis_errors("change endpoint"):
            return status(await self._replace(keys=keys, args=args))

    async def route(self, endpoint_id: str) -> tuple[dict[str, Any], str] | None:
        """The endpoint an id names (in any namespace) and its primary's health (`HEALTHY` / `UNHEALTHY`), in one
        round trip."""
        keys = [self._keys.endpoints, self._keys.endpoint_ids, self._keys.health_checks]
        with redis_errors("read endpoint"):
            found = await self._route(keys=keys, args=[endpoint_id])
        if not found:
            return None
        health = found[1] if len(found) > 1 and found[1] else HEALTHY.encode()
        return orjson.loads(found[0]), status(health)

    async def set_health(self, check: str, healthy: bool) -> None:
        with redis_errors("set health check"):
            await self._redis.hset(self._keys.health_checks, health_check_id(check), HEALTHY if healthy else UNHEALTHY)

    async def health(self, check: str) -> str:
        with redis_errors("read health check"):
            raw = await self._redis.hget(self._keys.health_checks, health_check_id(check))
        return status(raw) if raw is not None else HEALTHY


def endpoint_store(state: AppState) -> EndpointStore:
    """The process's store (made on first use)."""
    found = state.extras.get("endpoint_store")
    if found is None:
        found = state.extras["endpoint_store"] = EndpointStore(state.redis, state.keys)
    assert isinstance(found, EndpointStore)
    return found
