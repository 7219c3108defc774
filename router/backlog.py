"""Appending to a bus's ingest stream, with its backlog bounded: the one script PutEvents and event-bus targets use.

Every event enters a bus through `APPEND_SCRIPT`, in the bus's slot: it checks the bus's `exists` marker, measures
the bus's **ingest backlog** (events accepted but not yet processed by the ingest worker: the `router` group's
pending entries plus its lag, from `XINFO GROUPS`; the stream's length while the group does not exist yet, or where
Redis cannot tell the lag), and appends only as many of the events as fit under `settings.ingest_backlog_limit_events`
(`SWITCHBOARD_INGEST_BACKLOG_LIMIT_EVENTS`, 100,000 per bus; 0 turns the bound off). The check and the append are one
script, so concurrent callers (any number of router processes) can never overshoot the bound. Events that do not fit
are refused, counted in the bus's `ThrottledEvents` counter (metric `switchboard_ingest_throttled_events_total`), and:

- PutEvents answers each of them with AWS's retryable per-entry error, `ErrorCode` `ThrottlingException`,
  `ErrorMessage` `Rate exceeded` (what AWS's throttling says; the entries before them in the request are stored, in
  order, so a client resends exactly the failed entries, as it does for any partial failure);
- an event-bus target's delivery fails with `THROTTLING`, retried with backoff like a throttled HTTP target.

A backlog means the ingest workers fall behind (too few router processes for the load, or Redis is slow); the bound
keeps Redis's memory bounded while they do, and tells the senders to slow down.
"""

from __future__ import annotations

from collections.abc import Sequence

from router.keys import INGEST_GROUP, Keys
from router.metrics import FIELD_THROTTLED

__all__ = ["APPEND_SCRIPT", "FIELD_THROTTLED", "THROTTLED_ENTRY", "append_args", "append_keys"]

THROTTLED_ENTRY = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
"""PutEvents' result entry for an event refused by the backlog bound."""

# KEYS: exists marker, ingest stream, bus counters.
# ARGV: backlog limit (0: none), n, then per event: envelope, hops ('' for none).
# Returns false when the bus does not exist, else the ids of the events appended (the first ones; the rest did not fit).
APPEND_SCRIPT = f"""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
local n = tonumber(ARGV[2])
local room = n
local limit = tonumber(ARGV[1])
if limit > 0 then
  local backlog = nil
  local groups = redis.pcall('XINFO', 'GROUPS', KEYS[2])
  if not groups['err'] then
    for _, g in ipairs(groups) do
      local info = {{}}
      for j = 1, #g, 2 do info[g[j]] = g[j + 1] end
      if info['name'] == '{INGEST_GROUP}' and info['lag'] then
        backlog = tonumber(info['pending']) + tonumber(info['lag'])
      end
    end
  end
  if backlog == nil then
    backlog = redis.call('XLEN', KEYS[2])
  end
  room = math.max(0, math.min(n, limit - backlog))
end
local ids = {{}}
for i = 1, room do
  local hops = ARGV[2 + 2 * i]
  if hops == '' then
    ids[i] = redis.call('XADD', KEYS[2], '*', 'event', ARGV[1 + 2 * i])
  else
    ids[i] = redis.call('XADD', KEYS[2], '*', 'event', ARGV[1 + 2 * i], 'hops', hops)
  end
end
if room < n then
  redis.call('HINCRBY', KEYS[3], '{FIELD_THROTTLED}', n - room)
end
return ids
"""


def append_keys(keys: Keys, bus: str) -> list[str]:
    return [keys.bus_exists(bus), keys.ingest(bus), keys.bus_counters(bus)]


def append_args(limit: int, events: Sequence[tuple[bytes, int | None]]) -> list[bytes | int | str]:
    """The script's ARGV for (envelope, hops or None) events."""
    args: list[bytes | int | str] = [limit, len(events)]
    for envelope, hops in events:
        args.append(envelope)
        args.append("" if hops is None else hops)
    return args
