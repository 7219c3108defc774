"""The Lua scripts that settle delivery jobs and re-enqueue due retries, atomically, in the bus's hash slot.

`SETTLE` is the only way a job leaves its stream: for each job this consumer *still owns* (XPENDING, so a job that
was claimed away after a visibility timeout changes nothing here), it acknowledges and deletes the entry, schedules
the retry (ZADD into the bus's retry set, scored by due time in ms) when there is one, and adds the outcome to the
rule's delivery counters. Counters therefore count each delivery's outcome once, even when two workers delivered it.

`MOVE_DUE` takes retries that are due off the retry set and appends them to their job streams; a member that another
process moved first (ZREM returns 0) is skipped, so each retry is enqueued once. Every key is declared in KEYS: the
caller reads the due members first and passes their streams.
"""

from __future__ import annotations

from router.partitioned import LUA_CLAIM

__all__ = [
    "CLAIM_ABANDONED",
    "KIND_DLQ",
    "KIND_DLQ_FAILED",
    "KIND_DROPPED",
    "KIND_RETRY",
    "KIND_SUCCESS",
    "MOVE_DUE",
    "SETTLE",
]

KIND_SUCCESS = "s"
KIND_RETRY = "r"
KIND_DLQ = "d"
"""Given up, and the event is in the DLQ."""
KIND_DLQ_FAILED = "f"
"""Given up, and sending it to the DLQ failed (or the DLQ ARN is not a queue): it is dropped."""
KIND_DROPPED = "x"
"""Given up without a DLQ: dropped, as on EventBridge."""

# KEYS: job stream, bus counters, retry set.
# ARGV: group, consumer, rule, n, then per job: entry id, kind, attempt number (0: no attempt made), due ms, member.
SETTLE = """
local stream, counters, retries = KEYS[1], KEYS[2], KEYS[3]
local group, consumer, rule = ARGV[1], ARGV[2], ARGV[3]
local totals = {}
local function add(name) totals[name] = (totals[name] or 0) + 1 end
local owned = {}
local i = 5
for _ = 1, tonumber(ARGV[4]) do
  local id, kind, attempt = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 1 then
    owned[#owned + 1] = id
    if attempt > 0 then
      add('InvocationAttempts')
      if attempt > 1 then add('RetryInvocationAttempts') end
    end
    if kind == 's' then
      add('Invocations')
      add('SuccessfulInvocationAttempts')
    elseif kind == 'r' then
      redis.call('ZADD', retries, ARGV[i + 3], ARGV[i + 4])
    else
      add('Invocations')
      add('FailedInvocations')
      if kind == 'd' then add('InvocationsSentToDlq') elseif kind == 'f' then add('InvocationsFailedToBeSentToDlq') end
    end
  end
  i = i + 5
end
if #owned > 0 then
  redis.call('XACK', stream, group, unpack(owned))
  redis.call('XDEL', stream, unpack(owned))
end
for name, n in pairs(totals) do
  redis.call('HINCRBY', counters, name .. ':' .. rule, n)
end
return #owned
"""

# KEYS: retry set, then the job streams. ARGV: n, then per member: member, index of its stream in KEYS, n fields, ...
MOVE_DUE = """
local moved = 0
local i = 2
for _ = 1, tonumber(ARGV[1]) do
  local member, k, nf = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if redis.call('ZREM', KEYS[1], member) == 1 then
    redis.call('XADD', KEYS[k], '*', unpack(ARGV, i + 3, i + 2 + nf))
    moved = moved + 1
  end
  i = i + 3 + nf
end
return moved
"""

# KEYS: job streams (lanes) of one partition. ARGV: group, me, min idle ms, then per lane how many jobs it can take.
# Takes over jobs idle for longer than `min idle` (XAUTOCLAIM) from lanes where something is pending at all.
# Returns {{lane index, claimed entries}...}, {indexes of lanes without the group}.
CLAIM_ABANDONED = (
    LUA_CLAIM
    + """
local group, me, min_idle = ARGV[1], ARGV[2], ARGV[3]
local out, missing = {}, {}
for k = 1, #KEYS do
  local summary = redis.pcall('XPENDING', KEYS[k], group)
  if summary['err'] then
    missing[#missing + 1] = k
  elseif tonumber(summary[1]) > 0 then
    local found = claim(KEYS[k], group, me, min_idle, tonumber(ARGV[3 + k]))
    if #found > 0 then out[#out + 1] = {k, found} end
  end
end
return {out, missing}
"""
)
