"""The Lua scripts behind every control-plane change, and the Redis error boundary.

Each script touches the keys of one hash slot only (one bus's keys, in its partition's slot `{b:N}`, or the `{meta}`
registry), so it runs unchanged on Redis Cluster. Scripts answer with a short status word that the store turns into
the AWS error (`NOBUS` -> ResourceNotFoundException, `LIMIT` -> LimitExceededException, ...). `RETRY` means a
check-and-set lost a race with another writer; the caller re-reads and tries again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from router.faults import STORAGE_ERRORS, storage_error

RULE_CAS = """
-- KEYS: bus marker, rules hash, the rule's targets hash, bus version, rule-changes sorted set
-- ARGV: rule name, expected record ('' = absent), new record ('' = delete), '1' = refuse to drop targets,
--       most rules on the bus (0: no limit)
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOBUS' end
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current == false then current = '' end
if current ~= ARGV[2] then return 'RETRY' end
local limit = tonumber(ARGV[5] or '0')
if current == '' and ARGV[3] ~= '' and limit > 0 and redis.call('HLEN', KEYS[2]) >= limit then return 'LIMIT' end
if ARGV[3] == '' then
  if current == '' then return 'OK' end
  if ARGV[4] == '1' and redis.call('HLEN', KEYS[3]) > 0 then return 'HASTARGETS' end
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[3])
else
  if current == ARGV[3] then return 'OK' end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
local version = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[5], version, ARGV[1])
if ARGV[3] == '' then
  -- A delete leaves its name behind (readers must learn of it). Once those outnumber the rules, the oldest
  -- entries go, and the floor member '' takes the highest version dropped: a reader older than it reads all.
  -- The last rule gone takes the set with it: a reader then holds rules the hash (empty) does not, so its count
  -- is out of step and it reads the (empty) hash whole.
  local entries = redis.call('ZCARD', KEYS[5])
  local rules = redis.call('HLEN', KEYS[2])
  if rules == 0 then
    redis.call('DEL', KEYS[5])
  elseif entries > 2 * rules + CHANGES_SLACK then
    local cut = entries - rules - CHANGES_SLACK / 2
    local edge = redis.call('ZRANGE', KEYS[5], cut - 1, cut - 1, 'WITHSCORES')
    redis.call('ZREMRANGEBYRANK', KEYS[5], 0, cut - 1)
    redis.call('ZADD', KEYS[5], edge[2], '')
  end
end
return 'OK'
"""

RULE_CHANGES_SLACK = 64
"""Deleted rules' names the rule-changes set keeps beyond twice the rule count before its oldest entries go."""
RULE_CAS = RULE_CAS.replace("CHANGES_SLACK", str(RULE_CHANGES_SLACK))

RULES_SINCE = """
-- KEYS: bus version, rule-changes sorted set, rules hash ; ARGV: the version the reader holds (-1: none)
-- Answers {version, rule count, 'some', name, record or nil, ...}: the rules changed since ARGV[1] (nil: deleted),
-- or {version, rule count, 'all', name, record, ...} when the reader holds nothing, or is older than the floor.
local version = tonumber(redis.call('GET', KEYS[1]) or '0')
local count = redis.call('HLEN', KEYS[3])
local since = tonumber(ARGV[1])
if since >= 0 and since <= version then
  local names = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. since, '+inf')
  local out = {version, count, 'some'}
  local behind = false
  for _, name in ipairs(names) do
    if name == '' then behind = true break end
    out[#out + 1] = name
    out[#out + 1] = redis.call('HGET', KEYS[3], name)
  end
  if not behind then return out end
end
local out = {version, count, 'all'}
for _, item in ipairs(redis.call('HGETALL', KEYS[3])) do out[#out + 1] = item end
return out
"""

PUT_TARGETS = """
-- KEYS: bus marker, rules hash, the rule's targets hash, bus version
-- ARGV: rule name, max targets per rule (0: no limit), then id, record pairs
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOBUS' end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 'NORULE' end
local count = redis.call('HLEN', KEYS[3])
local seen = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if not seen[id] and redis.call('HEXISTS', KEYS[3], id) == 0 then count = count + 1 end
  seen[id] = true
end
local most = tonumber(ARGV[2])
if most > 0 and count > most then return 'LIMIT' end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('INCR', KEYS[4])
return 'OK'
"""

REMOVE_TARGETS = """
-- KEYS: bus marker, rules hash, the rule's targets hash, bus version
-- ARGV: rule name, then target ids
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOBUS' end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 'NORULE' end
local removed = 0
for i = 2, #ARGV do removed = removed + redis.call('HDEL', KEYS[3], ARGV[i]) end
if removed > 0 then redis.call('INCR', KEYS[4]) end
return 'OK'
"""

DELETE_BUS_MARKER = """
-- KEYS: bus marker, rules hash, bus version
if redis.call('HLEN', KEYS[2]) > 0 then return 'HASRULES' end
if redis.call('DEL', KEYS[1]) == 1 then redis.call('INCR', KEYS[3]) end
return 'OK'
"""

NAMESPACE_COUNT = """
-- How many of the key-layout names `names` belong to one namespace: the names starting with `prefix` (its
-- `ACCOUNT@REGION@`), or for the home namespace (prefix '') the bare names, those without '@' (router.keys).
local function namespace_members(names, prefix)
  local count = 0
  for _, name in ipairs(names) do
    if prefix == '' then
      if not string.find(name, '@', 1, true) then count = count + 1 end
    elseif string.sub(name, 1, #prefix) == prefix then
      count = count + 1
    end
  end
  return count
end
-- How many fields of registry hash `key` belong to that namespace.
local function namespace_count(key, prefix)
  return namespace_members(redis.call('HKEYS', key), prefix)
end
"""
"""Lua functions the create scripts start with: their quotas count per account and region (`namespace_count` over a
registry hash's fields, `namespace_members` over any list of key-layout names, e.g. a set's members)."""

BUS_REGISTER = (
    NAMESPACE_COUNT
    + """
-- KEYS: bus registry ; ARGV: bus key-layout name, record, most buses allowed in its namespace (0: no limit),
--       what the namespace's fields start with ('' = the home namespace)
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'EXISTS' end
local limit = tonumber(ARGV[3])
if limit > 0 and namespace_count(KEYS[1], ARGV[4] or '') >= limit then return 'LIMIT' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'OK'
"""
)

BUS_CAS = """
-- KEYS: bus registry ; ARGV: bus name, expected record, new record
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current == false then return 'NOBUS' end
if current ~= ARGV[2] then return 'RETRY' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 'OK'
"""

CAS_ATTEMPTS = 50
"""Check-and-set retries before giving up with InternalException (only under pathological contention)."""


@contextlib.contextmanager
def redis_errors(action: str) -> Iterator[None]:
    """Translate Redis failures into the wire error of their fault class (router.faults), keeping the cause."""
    try:
        yield
    except STORAGE_ERRORS as err:
        raise storage_error(err) from err


def status(result: object) -> str:
    return result.decode() if isinstance(result, bytes) else str(result)
