"""Durable timers: one shared mechanism in Redis for everything that must happen at a time (schedules, saga timeouts).

A timer is `(owner, key) -> (due time, payload)`. The owner is what the timer belongs to (`bus:default` for the
default bus's scheduled rules, `schedule-group:G` for EventBridge Scheduler, `saga:...` later); its keys share the
owner's hash tag (router.keys), so a timer, its claim and the effects of firing it are one single-slot Lua script,
also on Redis Cluster. The owner's kind (the text before its first `:`) picks the handler.

Firing is claim, handle, complete:

1. **Claim** (one script): the due members of the owner's sorted set (score = due epoch ms) are re-scored to
   `now + lease`, and each gets a fresh claim token (stored with the original due time and the attempt number). Only
   one process can claim a member at a time. A claimant that dies (kill -9) never completes: its lease runs out, the
   member is due again, and another process claims it (re-claim after a crash).
2. **Handle**: the runner calls the kind's handler with the `DueTimer`; it returns a `Completion`: Redis commands to
   apply (keys in the owner's slot), an optional reschedule (next due time and payload), and an optional guard
   (`HGET key field` must still equal the value the handler read).
3. **Complete** (one script): only if the claim token is still the current one, the commands run, the claim is
   dropped, and the timer is rescheduled or removed, all atomically. A completion whose claim was lost (the timer was
   cancelled or rescheduled meanwhile, or re-claimed after the lease ran out) changes nothing, so effects happen
   exactly once per firing. A failed guard releases the claim with the original due time, so the timer is handled
   again at once against the new state.

A handler that raises (or returns None) keeps its claim until the lease runs out: the natural retry back-off.
`schedule` and `cancel` are idempotent and void any claim in flight. Time comes from a `Clock` (system time, a
`ManualClock` for unit tests, or a `RedisClock` that every process reads from one key, so multi-process tests move
time forward instead of sleeping).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.keys import Keys

__all__ = [
    "Clock",
    "Completion",
    "DueTimer",
    "ManualClock",
    "RedisClock",
    "RunnerOptions",
    "SystemClock",
    "TimerHandler",
    "TimerRunner",
    "Timers",
    "owner_kind",
]

log = logging.getLogger("switchboard.timers")


class Clock(Protocol):
    async def now_ms(self) -> int:
        """Now, in epoch milliseconds."""
        ...


class SystemClock:
    async def now_ms(self) -> int:
        return int(time.time() * 1000)


class ManualClock:
    """A clock that only moves when told to (unit tests)."""

    def __init__(self, start_ms: int) -> None:
        self.value_ms = start_ms

    def set(self, value_ms: int) -> None:
        self.value_ms = value_ms

    def advance(self, delta_ms: int) -> None:
        self.value_ms += delta_ms

    async def now_ms(self) -> int:
        return self.value_ms


class RedisClock:
    """Reads now from one Redis key (epoch ms) that tests set, so every process shares one moved clock; system time
    while the key is unset. For tests and demos only (settings `timer_clock = "redis"`)."""

    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        self._redis = redis
        self._key = key

    async def now_ms(self) -> int:
        raw = await self._redis.get(self._key)
        return int(raw) if raw is not None else int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class DueTimer:
    owner: str
    key: str
    due_ms: int
    """When it was due (its original due time, also when re-claimed after a lease ran out)."""
    payload: bytes
    token: str
    attempt: int
    """1 for the first claim, 2 after one lease ran out, ..."""


@dataclass(slots=True)
class Completion:
    commands: list[tuple[Any, ...]] = field(default_factory=list)
    """Redis commands applied atomically with the completion; keys in the owner's hash slot, and idempotent."""
    reschedule: tuple[int, bytes] | None = None
    """(next due ms, payload), or None: the timer is removed."""
    guard: tuple[str, str, bytes | None] | None = None
    """(hash key, field, expected raw value or None for absent), checked in the completion script."""


TimerHandler = Callable[[DueTimer], Awaitable[Completion | None]]


def owner_kind(owner: str) -> str:
    return owner.split(":", 1)[0]


# KEYS: timers, payloads, claims. ARGV: key, due ms, payload.
_SCHEDULE = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""

# KEYS: timers, payloads, claims. ARGV: key.
_CANCEL = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return removed
"""

# KEYS: timers, payloads, claims. ARGV: now ms, lease ms, limit, token prefix.
# Claim values are `token|due|attempt`. Returns a flat list: key, due, attempt, token, payload, ...
_CLAIM = """
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i = 1, #due, 2 do
  local key, score = due[i], due[i + 1]
  local first_due, attempt = score, 1
  local held = redis.call('HGET', KEYS[3], key)
  if held then
    local _, _, d, a = string.find(held, '^[^|]*|([^|]*)|([^|]*)$')
    if d then first_due, attempt = d, tonumber(a) + 1 end
  end
  local token = ARGV[4] .. ':' .. ((i + 1) / 2)
  redis.call('ZADD', KEYS[1], now + lease, key)
  redis.call('HSET', KEYS[3], key, token .. '|' .. first_due .. '|' .. attempt)
  out[#out + 1] = key
  out[#out + 1] = first_due
  out[#out + 1] = tostring(attempt)
  out[#out + 1] = token
  out[#out + 1] = redis.call('HGET', KEYS[2], key) or ''
end
return out
"""

# KEYS: timers, payloads, claims, guard key (or the timers key when there is no guard).
# ARGV: key, token, reschedule (0/1), next due, next payload, guard (0/1), guard field, expected present (0/1),
#       expected value, n commands, then per command: n args, args...
# Returns 1 (completed), 0 (claim lost: nothing changed), -1 (guard failed: claim released, due again at once).
_COMPLETE = """
local key, token = ARGV[1], ARGV[2]
local held = redis.call('HGET', KEYS[3], key)
if not held or string.sub(held, 1, #token + 1) ~= token .. '|' then
  return 0
end
if ARGV[6] == '1' then
  local value = redis.call('HGET', KEYS[4], ARGV[7])
  local matches
  if ARGV[8] == '1' then matches = (value == ARGV[9]) else matches = (value == false) end
  if not matches then
    local _, _, first_due = string.find(held, '^[^|]*|([^|]*)|')
    redis.call('HDEL', KEYS[3], key)
    redis.call('ZADD', KEYS[1], first_due, key)
    return -1
  end
end
local i = 11
for _ = 1, tonumber(ARGV[10]) do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + 1 + n
end
redis.call('HDEL', KEYS[3], key)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], ARGV[4], key)
  redis.call('HSET', KEYS[2], key, ARGV[5])
else
  redis.call('ZREM', KEYS[1], key)
  redis.call('HDEL', KEYS[2], key)
end
return 1
"""


class Timers:
    """Schedule, cancel, read, claim and complete timers (each one script in the owner's slot)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._schedule = redis.register_script(_SCHEDULE)
        self._cancel = redis.register_script(_CANCEL)
        self._claim = redis.register_script(_CLAIM)
        self._complete = redis.register_script(_COMPLETE)
        self._instance = os.urandom(6).hex()
        self._claims = 0

    def _keys(self, owner: str) -> list[str]:
        k = self.keys
        return [k.timers(owner), k.timer_payloads(owner), k.timer_claims(owner)]

    async def schedule(self, owner: str, key: str, due_ms: int, payload: bytes = b"") -> None:
        """Create or replace the timer (a claim in flight is voided). Registers the owner first (idempotent)."""
        await self.redis.sadd(self.keys.timer_owners, owner)
        script, keys, args = self.schedule_script(owner, key, due_ms, payload)
        await script(keys=keys, args=args)

    async def cancel(self, owner: str, key: str) -> bool:
        """Remove the timer (a claim in flight is voided); False if there was none."""
        script, keys, args = self.cancel_script(owner, key)
        return bool(await script(keys=keys, args=args))

    def schedule_script(
        self, owner: str, key: str, due_ms: int, payload: bytes = b""
    ) -> tuple[Any, list[str], list[Any]]:
        """The script, keys and arguments `schedule` runs (after `SADD timer_owners owner`), for a caller that
        pipelines timer changes with its other commands (sagas.outbox)."""
        return self._schedule, self._keys(owner), [key, int(due_ms), payload]

    def cancel_script(self, owner: str, key: str) -> tuple[Any, list[str], list[Any]]:
        """The script, keys and arguments `cancel` runs (see `schedule_script`)."""
        return self._cancel, self._keys(owner), [key]

    async def get(self, owner: str, key: str) -> tuple[int, bytes] | None:
        """(due ms, payload) of a pending timer (for a claimed one: its lease end), or None."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zscore(self.keys.timers(owner), key)
            pipe.hget(self.keys.timer_payloads(owner), key)
            score, payload = await pipe.execute()
        if score is None:
            return None
        return int(score), payload or b""

    async def owners(self) -> list[str]:
        raw = await self.redis.smembers(self.keys.timer_owners)
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in raw)

    async def forget_owner(self, owner: str) -> None:
        """Drop an owner (e.g. a deleted schedule group) and all its timers."""
        await self.redis.srem(self.keys.timer_owners, owner)
        await self.redis.delete(*self._keys(owner))

    async def claim(self, owner: str, now_ms: int, lease_ms: int, limit: int = 100) -> list[DueTimer]:
        self._claims += 1
        prefix = f"{self._instance}:{self._claims}"
        flat: list[Any] = await self._claim(keys=self._keys(owner), args=[now_ms, lease_ms, limit, prefix])
        timers: list[DueTimer] = []
        for i in range(0, len(flat), 5):
            key, due, attempt, token, payload = flat[i : i + 5]
            timers.append(
                DueTimer(owner, _text(key), int(float(_text(due))), bytes(payload), _text(token), int(_text(attempt)))
            )
        return timers

    async def complete(self, timer: DueTimer, completion: Completion) -> int:
        """1 completed, 0 the claim was lost (nothing changed), -1 the guard failed (due again at once)."""
        keys = self._keys(timer.owner)
        args: list[Any] = [timer.key, timer.token]
        if completion.reschedule is not None:
            args += [1, int(completion.reschedule[0]), completion.reschedule[1]]
        else:
            args += [0, 0, b""]
        if completion.guard is not None:
            guard_key, guard_field, expected = completion.guard
            keys.append(guard_key)
            args += [1, guard_field, 0 if expected is None else 1, expected or b""]
        else:
            keys.append(keys[0])
            args += [0, "", 0, b""]
        args.append(len(completion.commands))
        for command in completion.commands:
            args.append(len(command))
            args.extend(command)
        return int(await self._complete(keys=keys, args=args))


def _raise_if_cancelling() -> None:
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    poll_interval_s: float = 0.5
    lease_ms: int = 30_000
    batch: int = 100
    owners_refresh_s: float = 1.0
    error_backoff_s: float = 0.5


class TimerRunner:
    """Claims due timers of every registered owner and hands each to its kind's handler (one per process)."""

    def __init__(
        self,
        timers: Timers,
        clock: Clock,
        handlers: Mapping[str, TimerHandler] | None = None,
        options: RunnerOptions | None = None,
    ) -> None:
        self.timers = timers
        self.clock = clock
        self.handlers: dict[str, TimerHandler] = dict(handlers or {})
        self.options = options or RunnerOptions()
        self._owners: list[str] = []
        self._owners_at = -1e9
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self.fired = 0
        """Completions this process applied (for tests and logs)."""

    def handle(self, kind: str, handler: TimerHandler) -> None:
        """Register the handler of an owner kind (before `start`); one handler per kind."""
        if kind in self.handlers:
            raise ValueError(f"a timer handler for {kind!r} is already registered")
        self.handlers[kind] = handler

    def wake(self) -> None:
        """Poll now instead of at the next interval, with a fresh list of owners (after scheduling something)."""
        self._owners_at = -1e9
        self._wakeup.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="timers")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            _, late = await asyncio.wait([task], timeout=5.0)
            if late:
                log.warning("timers: the runner did not stop within 5 s")

    async def run_once(self, owners: Sequence[str] | None = None) -> int:
        """Claim and handle every due timer once; returns how many completed."""
        now_ms = await self.clock.now_ms()
        if owners is None:
            owners = await self._current_owners()
        done = 0
        for owner in owners:
            handler = self.handlers.get(owner_kind(owner))
            if handler is None:
                continue
            while True:
                claimed = await self.timers.claim(owner, now_ms, self.options.lease_ms, self.options.batch)
                for timer in claimed:
                    done += await self._handle(handler, timer)
                if len(claimed) < self.options.batch:
                    break
        self.fired += done
        return done

    async def _handle(self, handler: TimerHandler, timer: DueTimer) -> int:
        try:
            completion = await handler(timer)
        except asyncio.CancelledError:
            raise
        except Exception:  # the claim stays until its lease runs out: then it is retried
            _raise_if_cancelling()
            log.exception("timer %s/%s: handler failed (attempt %d)", timer.owner, timer.key, timer.attempt)
            return 0
        if completion is None:
            return 0
        outcome = await self.timers.complete(timer, completion)
        if outcome == -1:
            self.wake()
        return 1 if outcome == 1 else 0

    async def _current_owners(self) -> list[str]:
        now = time.monotonic()
        if now - self._owners_at >= self.options.owners_refresh_s:
            self._owners = await self.timers.owners()
            self._owners_at = now
        return self._owners

    async def _run(self) -> None:
        while True:
            _raise_if_cancelling()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as err:
                _raise_if_cancelling()  # redis-py can turn a cancellation into a connection error
                log.warning("timers: redis unavailable, retrying: %s", err)
                await asyncio.sleep(self.options.error_backoff_s)
            except Exception:
                _raise_if_cancelling()
                log.exception("timers: unexpected error")
                await asyncio.sleep(self.options.error_backoff_s)
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.options.poll_interval_s)
