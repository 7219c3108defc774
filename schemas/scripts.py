"""The Lua scripts behind every schema-registry change, and the Redis error boundary.

Each script touches the keys of one hash slot only (the `{schemas}` index or one `{registry:R}`), so it runs
unchanged on Redis Cluster. Scripts answer with a short status word: `OK`, `RETRY` (a check-and-set lost a race:
re-read and try again), `NOREG` (the registry's marker is gone), `PRECONDITION` (a policy revision mismatch).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from router.faults import FAULT_MESSAGES, STORAGE_ERRORS, fault_class, log_fault
from schemas.errors import ServiceUnavailableException

log = logging.getLogger("switchboard.schemas")

CAS_ATTEMPTS = 20
"""Check-and-set retries before a change gives up with ServiceUnavailableException."""

HASH_CAS = """
-- KEYS: a hash; ARGV: field, expected value ('' = absent), new value ('' = delete)
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current == false then current = '' end
if current ~= ARGV[2] then return 'RETRY' end
if ARGV[3] == '' then
  if current ~= '' then redis.call('HDEL', KEYS[1], ARGV[1]) end
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return 'OK'
"""

SCHEMA_CAS = """
-- KEYS: registry marker, schemas hash, the schema's versions, bindings and binding-sources hashes
-- ARGV: schema name, expected record ('' = absent), new record ('' = delete the schema and its keys),
--       then version, version record pairs (an empty record deletes that version and its bindings)
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOREG' end
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current == false then current = '' end
if current ~= ARGV[2] then return 'RETRY' end
if ARGV[3] == '' then
  if current ~= '' then
    redis.call('HDEL', KEYS[2], ARGV[1])
    redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
  end
  return 'OK'
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[3], ARGV[i])
    local suffix = ':' .. ARGV[i]
    for _, field in ipairs(redis.call('HKEYS', KEYS[4])) do
      if string.sub(field, -#suffix) == suffix then
        redis.call('HDEL', KEYS[4], field)
        redis.call('HDEL', KEYS[5], field)
      end
    end
  else
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  end
end
return 'OK'
"""

DROP_REGISTRY = """
-- KEYS: registry marker, schemas hash, then every other key of the registry (policy, per-schema keys)
-- ARGV: the schema names the caller read (their keys are in KEYS); a schema added since means RETRY
local names = redis.call('HKEYS', KEYS[2])
if #names ~= #ARGV then return 'RETRY' end
local expected = {}
for _, name in ipairs(ARGV) do expected[name] = true end
for _, name in ipairs(names) do if not expected[name] then return 'RETRY' end end
redis.call('DEL', unpack(KEYS))
return 'OK'
"""

PUT_POLICY = """
-- KEYS: the policy key, the registry marker (or the policy key again for the account policy)
-- ARGV: expected revision ('' = any), new record ('' = delete), new revision
if redis.call('EXISTS', KEYS[2]) == 0 and KEYS[1] ~= KEYS[2] then return 'NOREG' end
local current = redis.call('GET', KEYS[1])
if ARGV[1] ~= '' then
  if current == false then return 'PRECONDITION' end
  local revision = cjson.decode(current)['RevisionId']
  if revision ~= ARGV[1] then return 'PRECONDITION' end
end
if ARGV[2] == '' then
  if current == false then return 'NOPOLICY' end
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 'OK'
"""


def status(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


@contextlib.contextmanager
def redis_errors(what: str) -> Iterator[None]:
    """Translate Redis failures into the Schemas API's 503 (botocore retries it), with the message of their storage
    fault class (router.faults), never the Redis address; the log line (rate-limited) names the step, `what`."""
    try:
        yield
    except STORAGE_ERRORS as err:
        kind = fault_class(err)
        log_fault(log, f"schema registry: {what}", err)
        message = FAULT_MESSAGES[kind] if kind else "An internal error occurred."
        raise ServiceUnavailableException(message) from err


PUT_BINDING = """
-- KEYS: registry marker, schemas hash, the schema's versions, bindings and binding-sources hashes
-- ARGV: schema name, schema version, binding field, binding record, source ('' = none),
--       expected current record ('' = any: '-' = absent)
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOREG' end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 'NOSCHEMA' end
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 0 then return 'NOVERSION' end
if ARGV[6] ~= '' then
  local current = redis.call('HGET', KEYS[4], ARGV[3])
  if current == false then current = '-' end
  if current ~= ARGV[6] then return 'RETRY' end
end
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[5], ARGV[3], ARGV[5]) end
return 'OK'
"""
