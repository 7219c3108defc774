"""The Lua scripts behind the SQS API: each operation on one queue is one atomic script in the queue's hash slot.

Every script takes the same KEYS, `Keys.queue_sqs_keys(name)` (the queue's stream first, then the SQS state beside
it, see router.keys), so a script never touches a key it was not given and each call is single-slot on a cluster.
A queue exists while its `attributes` hash (CreateQueue) or its stream (first delivery) exists; every script but
CREATE answers `-1` when neither does.

State of a message (its stream entry id is its identity inside the queue):

- *new*: in the stream after `cursor`; a receive reads it, moving the cursor past it;
- *delayed*: in `delayed` until its due time (DelaySeconds of the message, else of the queue);
- *in flight*: in `invisible` with a future score; `receipts` holds its receive count, first receive time, the
  token of its current receipt handle and its group. A score in the past means visible again;
- *deleted*: gone from all of them, and from the stream unless a consumer group of the stream still needs the
  entry (`remove_entry`: a group whose last-delivered id is before it, or that has it pending), so consumers that
  read the stream directly (docs/queues.md) never lose an entry to an SQS delete.

FIFO queues add an index: a receive first moves new entries into `fifo` (`group NUL padded-id`, lexicographic, so
one range reads a group's messages in order), deduplicating deliveries by their `delivery_id` for 5 minutes
(messages from SendMessage were deduplicated when sent). A group with messages in flight or delayed is locked by
its count in `fifo-inflight`; an unlocked group with messages is in `fifo-ready`, scored by its oldest message, and
a receive serves groups oldest first, as many messages of one group as it can.

Bounded work: each call reads at most `scan` stream entries and ready groups, and expires at most 100 in-flight
messages; what is left is done by the next call.
"""

from __future__ import annotations

__all__ = [
    "CHANGE_VISIBILITY",
    "COUNTS",
    "DELETE",
    "DELETE_QUEUE",
    "FORGET",
    "PURGE",
    "RECEIVE",
    "RECEIVE_FIFO",
    "SEND",
]

DEDUP_WINDOW_MS = 300_000
"""FIFO deduplication interval: 5 minutes."""

_PRELUDE = """
local stream, attrs, state, invisible, delayed, receipts = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local fifo, ready, inflight, dedup, dedup_exp, tags = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]

local function exists()
  return redis.call('EXISTS', attrs) == 1 or redis.call('EXISTS', stream) == 1
end

local function field(f, name)
  for i = 1, #f, 2 do
    if f[i] == name then return f[i + 1] end
  end
  return nil
end

local function split(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

local function after(a, b)
  local am, as = split(a)
  local bm, bs = split(b)
  return am > bm or (am == bm and as > bs)
end

local function pad(id)
  local ms, seq = split(id)
  return string.format('%015d-%010d', ms, seq)
end

local function member_id(member)
  local padded = string.match(member, '%z(%d+-%d+)$')
  local ms, seq = split(padded)
  return string.format('%d-%d', ms, seq)
end

local function member_ms(member)
  return tonumber(string.match(member, '%z(%d+)-%d+$'))
end

local function parse_receipt(value)
  local count, first, token, group = string.match(value, '^(%d+) (%d+) (%S+) ?(.*)$')
  return tonumber(count), tonumber(first), token, group
end

local groups = nil
local function remove_entry(id)
  if groups == nil then
    groups = {}
    if redis.call('EXISTS', stream) == 1 then
      for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
        local name, last
        for i = 1, #g, 2 do
          if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
        end
        groups[#groups + 1] = {name, last}
      end
    end
  end
  for _, g in ipairs(groups) do
    if after(id, g[2]) then return 0 end
    if #redis.call('XPENDING', stream, g[1], id, id, 1) > 0 then return 0 end
  end
  return redis.call('XDEL', stream, id)
end

local function entry(id)
  local found = redis.call('XRANGE', stream, id, id)
  if #found == 0 then return nil end
  return found[1][2]
end

local function release(group)
  local left = redis.call('HINCRBY', inflight, group, -1)
  if left <= 0 then
    redis.call('HDEL', inflight, group)
    local head = redis.call('ZRANGEBYLEX', fifo, '[' .. group .. '\\0', '(' .. group .. '\\1', 'LIMIT', 0, 1)
    if #head > 0 then redis.call('ZADD', ready, member_ms(head[1]), group) end
  end
end

local function next_wake(now)
  local wake = false
  for _, key in ipairs({invisible, delayed}) do
    local first = redis.call('ZRANGEBYSCORE', key, now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #first > 0 and (not wake or tonumber(first[2]) < wake) then wake = tonumber(first[2]) end
  end
  return wake
end
"""

# ARGV: now ms, max messages, visibility ms, queue delay ms, retention ms, maxReceiveCount (0: no redrive),
# token prefix, scan limit. Returns -1 (no queue) or {messages, redrive, cursor, next wake ms or false}; a message
# is {entry id, receive count, first receive ms, token, fields}; redrive messages are held invisible for 30 s while
# the caller moves them to the dead-letter queue (then FORGET).
RECEIVE = (
    _PRELUDE
    + """
local now, n, vis, qdelay = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local retention, maxrc, token, scan = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
if not exists() then return -1 end
local out, redrive = {}, {}
local cursor = redis.call('HGET', state, 'cursor') or '0-0'

local function forget(id)
  redis.call('ZREM', invisible, id)
  redis.call('ZREM', delayed, id)
  redis.call('HDEL', receipts, id)
end

local function take(id, f)
  local sent = tonumber(field(f, 'sent_ms')) or now
  if retention > 0 and sent + retention <= now then
    forget(id)
    remove_entry(id)
    return
  end
  local count, first, group = 0, now, field(f, 'group_id') or ''
  local rec = redis.call('HGET', receipts, id)
  if rec then
    local c, fr = parse_receipt(rec)
    count, first = c, fr
  end
  if maxrc > 0 and count >= maxrc then
    redis.call('ZADD', invisible, now + 30000, id)
    redis.call('ZREM', delayed, id)
    redrive[#redrive + 1] = {id, count, first, '-', f}
    return
  end
  count = count + 1
  local tok = token .. (#out + #redrive)
  redis.call('HSET', receipts, id, count .. ' ' .. first .. ' ' .. tok .. ' ' .. group)
  redis.call('ZADD', invisible, now + vis, id)
  redis.call('ZREM', delayed, id)
  out[#out + 1] = {id, count, first, tok, f}
end

local scanned = 0
for _, key in ipairs({invisible, delayed}) do
  while #out < n and scanned < scan do
    local due = redis.call('ZRANGEBYSCORE', key, '-inf', '(' .. now, 'LIMIT', 0, n - #out)
    if #due == 0 then break end
    for _, id in ipairs(due) do
      scanned = scanned + 1
      local f = entry(id)
      if f then take(id, f) else forget(id) end
    end
  end
end
while #out < n and scanned < scan do
  local fresh = redis.call('XRANGE', stream, '(' .. cursor, '+', 'COUNT', n - #out)
  if #fresh == 0 then break end
  for _, e in ipairs(fresh) do
    scanned = scanned + 1
    local id, f = e[1], e[2]
    cursor = id
    local delay = tonumber(field(f, 'delay_s'))
    delay = delay and delay * 1000 or qdelay
    local due = (tonumber(field(f, 'sent_ms')) or now) + delay
    if due > now then redis.call('ZADD', delayed, due, id) else take(id, f) end
  end
  redis.call('HSET', state, 'cursor', cursor)
end
local wake = false
if #out == 0 then wake = next_wake(now) end
return {out, redrive, cursor, wake}
"""
)

# ARGV as RECEIVE, then the deduplication scope ('queue' or 'messageGroup'). Returns as RECEIVE.
RECEIVE_FIFO = (
    _PRELUDE
    + """
local now, n, vis, qdelay = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local retention, maxrc, token, scan = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local by_group = ARGV[9] == 'messageGroup'
if not exists() then return -1 end
local out, redrive = {}, {}
local cursor = redis.call('HGET', state, 'cursor') or '0-0'

-- index the new entries
for _, id in ipairs(redis.call('ZRANGEBYSCORE', dedup_exp, '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', dedup_exp, id)
  redis.call('HDEL', dedup, id)
end
local fresh = redis.call('XRANGE', stream, '(' .. cursor, '+', 'COUNT', scan)
for _, e in ipairs(fresh) do
  local id, f = e[1], e[2]
  cursor = id
  local group = field(f, 'group_id') or ''
  local keep = true
  if not field(f, 'dedup_id') then
    local did = field(f, 'delivery_id')
    if did then
      local key = did
      if by_group then key = group .. '\\0' .. did end
      if redis.call('HEXISTS', dedup, key) == 1 then
        keep = false
      else
        redis.call('HSET', dedup, key, (field(f, 'message_id') or '') .. ' ' .. id .. ' ' .. (now + 300000))
        redis.call('ZADD', dedup_exp, now + 300000, key)
      end
    end
  end
  if not keep then
    remove_entry(id)
  else
    redis.call('ZADD', fifo, 0, group .. '\\0' .. pad(id))
    local due = (tonumber(field(f, 'sent_ms')) or now) + qdelay
    if due > now then
      redis.call('ZADD', delayed, due, id)
      redis.call('HSET', receipts, id, '0 0 - ' .. group)
      redis.call('HINCRBY', inflight, group, 1)
    elseif redis.call('HEXISTS', inflight, group) == 0 then
      redis.call('ZADD', ready, 'NX', (split(id)), group)
    end
  end
end
redis.call('HSET', state, 'cursor', cursor)

-- messages whose visibility ran out, or whose delay is over, unlock their group
for _, key in ipairs({invisible, delayed}) do
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', '(' .. now, 'LIMIT', 0, 100)) do
    redis.call('ZREM', key, id)
    local rec = redis.call('HGET', receipts, id)
    if rec then
      local count, first, tok, group = parse_receipt(rec)
      if count == 0 then redis.call('HDEL', receipts, id) end
      release(group)
    end
  end
end

-- serve the ready groups, oldest first, as many messages of one group as possible
local groups_seen = 0
while #out < n and groups_seen < scan do
  local g = redis.call('ZRANGE', ready, 0, 0)
  if #g == 0 then break end
  local group = g[1]
  groups_seen = groups_seen + 1
  redis.call('ZREM', ready, group)
  local members = redis.call('ZRANGEBYLEX', fifo, '[' .. group .. '\\0', '(' .. group .. '\\1', 'LIMIT', 0, n - #out)
  local taken = 0
  for _, member in ipairs(members) do
    local id = member_id(member)
    local f = entry(id)
    local sent = f and (tonumber(field(f, 'sent_ms')) or now) or 0
    if not f or (retention > 0 and sent + retention <= now) then
      redis.call('ZREM', fifo, member)
      redis.call('HDEL', receipts, id)
      if f then remove_entry(id) end
    else
      local count, first = 0, now
      local rec = redis.call('HGET', receipts, id)
      if rec then
        local c, fr = parse_receipt(rec)
        count, first = c, fr
      end
      redis.call('HINCRBY', inflight, group, 1)
      taken = taken + 1
      if maxrc > 0 and count >= maxrc then
        redis.call('HSET', receipts, id, count .. ' ' .. first .. ' - ' .. group)
        redis.call('ZADD', invisible, now + 30000, id)
        redrive[#redrive + 1] = {id, count, first, '-', f}
      else
        count = count + 1
        local tok = token .. (#out + #redrive)
        redis.call('HSET', receipts, id, count .. ' ' .. first .. ' ' .. tok .. ' ' .. group)
        redis.call('ZADD', invisible, now + vis, id)
        out[#out + 1] = {id, count, first, tok, f}
      end
    end
  end
  if taken == 0 then
    local head = redis.call('ZRANGEBYLEX', fifo, '[' .. group .. '\\0', '(' .. group .. '\\1', 'LIMIT', 0, 1)
    if #head > 0 then redis.call('ZADD', ready, member_ms(head[1]), group) end
  end
end
local wake = false
if #out == 0 then wake = next_wake(now) end
return {out, redrive, cursor, wake}
"""
)

# ARGV: now ms, fifo (1/0), by message group (1/0), n, then per message: dedup id ('' = none), group id, number of
# fields, fields... Returns -1 (no queue) or one {entry id, message id, duplicate (1/0)} per message.
SEND = (
    _PRELUDE
    + """
local now, is_fifo, by_group, n = tonumber(ARGV[1]), ARGV[2] == '1', ARGV[3] == '1', tonumber(ARGV[4])
if not exists() then return -1 end
if is_fifo then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', dedup_exp, '-inf', now, 'LIMIT', 0, 100)) do
    redis.call('ZREM', dedup_exp, id)
    redis.call('HDEL', dedup, id)
  end
end
local out = {}
local i = 5
for _ = 1, n do
  local dedup_id, group, nf = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local fields = {}
  for k = 1, nf do fields[k] = ARGV[i + 2 + k] end
  i = i + 3 + nf
  local key = dedup_id
  if by_group then key = group .. '\\0' .. dedup_id end
  local seen = dedup_id ~= '' and redis.call('HGET', dedup, key)
  if seen then
    local mid, eid = string.match(seen, '^(%S*) (%S+)')
    out[#out + 1] = {eid, mid, 1}
  else
    local id = redis.call('XADD', stream, '*', unpack(fields))
    out[#out + 1] = {id, field(fields, 'message_id'), 0}
    if dedup_id ~= '' then
      redis.call('HSET', dedup, key, field(fields, 'message_id') .. ' ' .. id .. ' ' .. (now + 300000))
      redis.call('ZADD', dedup_exp, now + 300000, key)
    end
  end
end
return out
"""
)

# ARGV: now ms, fifo (1/0), n, then per handle: entry id, token. Returns -1 (no queue) or one code per handle:
# 1 deleted, 2 nothing to delete (already deleted), 3 not deleted: another receive holds it (standard queues),
# 4 the handle has expired (FIFO queues: the message is visible again or was received again).
DELETE = (
    _PRELUDE
    + """
local now, is_fifo, n = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3])
if not exists() then return -1 end
local out = {}
for k = 1, n do
  local id, tok = ARGV[2 + 2 * k], ARGV[3 + 2 * k]
  local rec = redis.call('HGET', receipts, id)
  if not rec then
    out[k] = 2
  else
    local count, first, current, group = parse_receipt(rec)
    local score = redis.call('ZSCORE', invisible, id)
    local held = score and tonumber(score) >= now
    if is_fifo and (current ~= tok or not held) then
      out[k] = 4
    elseif current ~= tok and held then
      out[k] = 3
    else
      redis.call('ZREM', invisible, id)
      redis.call('HDEL', receipts, id)
      if is_fifo then
        redis.call('ZREM', fifo, group .. '\\0' .. pad(id))
        release(group)
      end
      remove_entry(id)
      out[k] = 1
    end
  end
end
return out
"""
)

# ARGV: now ms, n, then per handle: entry id, token, visibility ms. Returns -1 or one code per handle: 1 changed,
# 0 not in flight under this handle.
CHANGE_VISIBILITY = (
    _PRELUDE
    + """
local now, n = tonumber(ARGV[1]), tonumber(ARGV[2])
if not exists() then return -1 end
local out = {}
for k = 1, n do
  local id, tok, vis = ARGV[3 * k], ARGV[3 * k + 1], tonumber(ARGV[3 * k + 2])
  local rec = redis.call('HGET', receipts, id)
  local score = redis.call('ZSCORE', invisible, id)
  out[k] = 0
  if rec and score and tonumber(score) >= now then
    local count, first, current = parse_receipt(rec)
    if current == tok then
      redis.call('ZADD', invisible, now + vis, id)
      out[k] = 1
    end
  end
end
return out
"""
)

# ARGV: n, then entry ids: messages a receive handed over for redrive, now in their dead-letter queue.
FORGET = (
    _PRELUDE
    + """
if not exists() then return -1 end
local forgotten = 0
for k = 2, tonumber(ARGV[1]) + 1 do
  local id = ARGV[k]
  local rec = redis.call('HGET', receipts, id)
  if rec and redis.call('ZREM', invisible, id) == 1 then
    local count, first, tok, group = parse_receipt(rec)
    redis.call('HDEL', receipts, id)
    if redis.call('ZREM', fifo, group .. '\\0' .. pad(id)) == 1 then release(group) end
    remove_entry(id)
    forgotten = forgotten + 1
  end
end
return forgotten
"""
)

# ARGV: now ms, chunk, first call (1/0), purge interval ms. Returns -1 (no queue), -2 (purged less than an interval
# ago), 0 done, 1 call again. Removes every message SQS holds: new, delayed, in flight. Without consumer groups on
# the stream one call trims it whole; with groups each entry goes through remove_entry, a chunk per call.
PURGE = (
    _PRELUDE
    + """
local now, chunk, first, interval = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
if not exists() then return -1 end
if first then
  local last = tonumber(redis.call('HGET', state, 'purged_ms'))
  if last and now - last < interval then return -2 end
  redis.call('HSET', state, 'purged_ms', now)
end
local has_groups = redis.call('EXISTS', stream) == 1 and #redis.call('XINFO', 'GROUPS', stream) > 0
if not has_groups then
  if redis.call('EXISTS', stream) == 1 then
    local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
    if #last > 0 then redis.call('HSET', state, 'cursor', last[1][1]) end
    redis.call('XTRIM', stream, 'MAXLEN', 0)
  end
  redis.call('DEL', invisible, delayed, receipts, fifo, ready, inflight)
  return 0
end
local cursor = redis.call('HGET', state, 'cursor') or '0-0'
local fresh = redis.call('XRANGE', stream, '(' .. cursor, '+', 'COUNT', chunk)
for _, e in ipairs(fresh) do
  cursor = e[1]
  remove_entry(e[1])
end
redis.call('HSET', state, 'cursor', cursor)
local left = chunk - #fresh
for _, key in ipairs({invisible, delayed}) do
  if left > 0 then
    local ids = redis.call('ZRANGE', key, 0, left - 1)
    for _, id in ipairs(ids) do
      redis.call('ZREM', key, id)
      redis.call('HDEL', receipts, id)
      remove_entry(id)
    end
    left = left - #ids
  end
end
if left > 0 then
  local members = redis.call('ZRANGE', fifo, 0, left - 1)
  for _, member in ipairs(members) do
    redis.call('ZREM', fifo, member)
    remove_entry(member_id(member))
  end
  left = left - #members
end
if left > 0 then
  redis.call('DEL', receipts, ready, inflight)
  return 0
end
return 1
"""
)

# ARGV: now ms, queue delay ms, cap, fifo (1/0). Returns -1 or {visible, not visible, delayed, stream length}.
# Exact while fewer than `cap` entries wait after the cursor; beyond that the rest of the stream is counted as
# visible (entries another consumer keeps in the stream are counted too: approximate, as SQS's counts are).
COUNTS = (
    _PRELUDE
    + """
local now, qdelay, cap, is_fifo = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
if not exists() then return -1 end
local cursor = redis.call('HGET', state, 'cursor') or '0-0'
local fresh = redis.call('XRANGE', stream, '(' .. cursor, '+', 'COUNT', cap)
local new_visible, new_delayed = 0, 0
for _, e in ipairs(fresh) do
  local delay = tonumber(field(e[2], 'delay_s'))
  delay = delay and delay * 1000 or qdelay
  if (tonumber(field(e[2], 'sent_ms')) or now) + delay > now then
    new_delayed = new_delayed + 1
  else
    new_visible = new_visible + 1
  end
end
local length = redis.call('XLEN', stream)
local indexed
if is_fifo then
  indexed = redis.call('ZCARD', fifo)
else
  indexed = redis.call('ZCARD', invisible) + redis.call('ZCARD', delayed)
end
if #fresh == cap then
  local beyond = length - indexed - cap
  if beyond > 0 then new_visible = new_visible + beyond end
end
local not_visible = redis.call('ZCOUNT', invisible, now, '+inf')
local still_delayed = redis.call('ZCOUNT', delayed, now, '+inf')
local visible = indexed - not_visible - still_delayed
if visible < 0 then visible = 0 end
return {visible + new_visible, not_visible, still_delayed + new_delayed, length}
"""
)

# No ARGV. Deletes every key of the queue (its stream too); returns -1 when there was no queue.
DELETE_QUEUE = (
    _PRELUDE
    + """
if not exists() then return -1 end
redis.call('DEL', stream, attrs, state, invisible, delayed, receipts, fifo, ready, inflight, dedup, dedup_exp, tags)
return 1
"""
)
