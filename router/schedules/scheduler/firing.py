"""Firing schedules: each tick of an ENABLED schedule becomes one durable delivery job for its target.

Every schedule has one timer (router.timers) of owner `schedule-group:G`, key = the schedule's name, payload
`{"tick_ms": ..., "rev": ...}` (the scheduled time, and the schedule's `LastModificationDate` it was computed for).
The timer is due at the tick plus, for a `FLEXIBLE` time window, a random delay in `[0, MaximumWindowInMinutes)`.

When it is due, the handler reads the schedule, appends a delivery job (router.delivery.jobs) to the stream
`sb:{b:N}:bus:~scheduler~G:deliveries:<name>:target`, and completes the timer with the next tick, all guarded by the
schedule record being unchanged. The job is then delivered by the ordinary delivery workers (retries with the
target's RetryPolicy, then its DeadLetterConfig queue, with Scheduler's DLQ attributes): the schedule group is a
*delivery owner* named `~scheduler~G` (never a bus name), registered in `sb:{meta}:delivery-owners`. The job append
lives in that owner's slot, not the timer's, so it is made idempotent instead of atomic with the completion: it sets
`sb:{b:N}:bus:~scheduler~G:invocations:<id>` (NX, 2 days) in the same script, and a re-fired tick (a crash between the
append and the completion) finds the key and appends nothing. One invocation per tick.

- `rate` ticks from StartDate, or from the creation (or last update) when there is none: the first invocation is
  immediate. `cron` ticks in `ScheduleExpressionTimezone` (router.schedules.cron), on or after StartDate. Both stop
  before EndDate. `at` ticks once, at that wall-clock time in the time zone (a time in a DST gap is read with the
  offset before the change, so `at(2024-03-10T02:30:00)` in New York fires at 03:30 EDT); StartDate and EndDate do
  not apply, and an `at` already past when the schedule is created or updated does not fire.
- When a schedule has no next tick (an `at` fired, or EndDate passed) and ActionAfterCompletion is DELETE, the
  completion deletes it.
- Missed ticks (all routers down): the first missed one fires once, late; the schedule then continues after now.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from router.delivery.transports import service_of
from router.keys import OWNER_MARK, Keys
from router.schedules.cron import Cron, wall_clock_instant
from router.schedules.expressions import At, Rate, ScheduleExpression, parse_scheduler_expression
from router.schedules.scheduler.store import SchedulerStore, group_key, group_owner
from router.state import AppState
from router.timers import Completion, DueTimer, TimerRunner, Timers

__all__ = ["OWNER_KIND", "delivery_owner", "first_tick", "install", "next_tick", "reconcile", "schedule_timer"]

log = logging.getLogger("switchboard.scheduler")

OWNER_KIND = "schedule-group"
RECONCILE_KEY = "~reconcile"
RECONCILE_EVERY_MS = 30_000
INVOCATION_TTL_MS = 2 * 86_400_000
DEFAULT_INPUT = b"{}"
TARGET_ID = "target"

# KEYS: invocation marker, job stream, lanes set. ARGV: ttl ms, then the job's field/value pairs.
_APPEND_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
redis.call('SADD', KEYS[3], KEYS[2])
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
return 1
"""


def delivery_owner(group: str) -> str:
    """The delivery owner (a bus-shaped key space that no bus can have) whose lanes carry the group's jobs."""
    return f"{OWNER_MARK}scheduler~{group}"


def _ms(epoch_s: Any) -> int | None:
    return None if epoch_s is None else int(float(epoch_s) * 1000)


def zone_of(record: dict[str, Any]) -> ZoneInfo:
    return ZoneInfo(record.get("ScheduleExpressionTimezone") or "UTC")


def next_tick(record: dict[str, Any], expression: ScheduleExpression, after_ms: int) -> int | None:
    """The schedule's first tick strictly after `after_ms`, or None."""
    zone = zone_of(record)
    if isinstance(expression, At):
        instant = wall_clock_instant(expression.local, zone) or expression.local.replace(tzinfo=zone).astimezone(UTC)
        tick = int(instant.timestamp() * 1000)
        return tick if tick > after_ms else None
    start_ms, end_ms = _ms(record.get("StartDate")), _ms(record.get("EndDate"))
    tick_ms: int | None
    if isinstance(expression, Rate):
        anchor = start_ms if start_ms is not None else _ms(record["LastModificationDate"]) or 0
        tick_ms = expression.next_after(after_ms, anchor)
    else:
        assert isinstance(expression, Cron)
        floor = after_ms if start_ms is None else max(after_ms, start_ms - 1)
        found = expression.next_after(datetime.fromtimestamp(floor / 1000, UTC), zone)
        tick_ms = None if found is None else int(found.timestamp() * 1000)
    if tick_ms is None or (end_ms is not None and tick_ms >= end_ms):
        return None
    return tick_ms


def first_tick(record: dict[str, Any], now_ms: int) -> int | None:
    """The first tick of a schedule just created or updated at `now_ms` (a rate without StartDate: now)."""
    return next_tick(record, parse_scheduler_expression(record["ScheduleExpression"]), now_ms - 1)


def flex_delay_ms(record: dict[str, Any], rand: Callable[[], float]) -> int:
    window = record.get("FlexibleTimeWindow") or {}
    if window.get("Mode") != "FLEXIBLE":
        return 0
    window_ms = int(window.get("MaximumWindowInMinutes") or 0) * 60_000
    return min(int(rand() * window_ms), max(window_ms - 1, 0))


def _timer_payload(tick_ms: int, record: dict[str, Any]) -> bytes:
    return orjson.dumps({"tick_ms": tick_ms, "rev": record["LastModificationDate"]})


async def schedule_timer(
    state: AppState, record: dict[str, Any], now_ms: int, rand: Callable[[], float] | None = None
) -> int | None:
    """(Re)set the schedule's timer after a create or update; returns the first tick (None: nothing to fire)."""
    timers: Timers = state.extras["timers"]
    runner: TimerRunner = state.extras["timer_runner"]
    owner = group_owner(group_key(state.keys, record["GroupName"], record["Arn"]))  # its namespace's group
    tick = first_tick(record, now_ms) if record.get("State", "ENABLED") == "ENABLED" else None
    if tick is None:
        await timers.cancel(owner, record["Name"])
        return None
    delay = flex_delay_ms(record, rand or state.extras.get("scheduler_random", random.random))
    await timers.schedule(owner, record["Name"], tick + delay, _timer_payload(tick, record))
    if await timers.get(owner, RECONCILE_KEY) is None:
        await timers.schedule(owner, RECONCILE_KEY, now_ms + RECONCILE_EVERY_MS)
    runner.wake()
    return tick


def invocation_id(schedule_arn: str, tick_ms: int, revision: Any) -> str:
    digest = hashlib.sha256(f"{schedule_arn}|{tick_ms}|{revision}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"


def target_snapshot(record: dict[str, Any]) -> dict[str, Any]:
    """What a job carries of the target: delivery reads Arn, RetryPolicy, DeadLetterConfig, SqsParameters."""
    target = record["Target"]
    snapshot: dict[str, Any] = {"Id": record["Name"], "Arn": target["Arn"], "RetryPolicy": target["RetryPolicy"]}
    for name in ("DeadLetterConfig", "SqsParameters"):
        if target.get(name):
            snapshot[name] = target[name]
    snapshot["ScheduleArn"] = record["Arn"]
    snapshot["ScheduleGroup"] = record["GroupName"]
    return snapshot


def payload_of(record: dict[str, Any], invocation: str, tick_ms: int, account: str, region: str) -> bytes:
    """What the target receives: its Input (or `{}`), or for an event bus the PutEvents entry's envelope."""
    target = record["Target"]
    given = target.get("Input")
    if service_of(str(target["Arn"])) != "bus":
        return given.encode() if isinstance(given, str) else DEFAULT_INPUT
    params = target.get("EventBridgeParameters") or {}
    head = {
        "version": "0",
        "id": invocation,
        "detail-type": params.get("DetailType") or "Scheduled Event",
        "source": params.get("Source") or "aws.scheduler",
        "account": account,
        "time": datetime.fromtimestamp(tick_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [record["Arn"]],
    }
    detail = given.encode() if isinstance(given, str) else DEFAULT_INPUT
    return orjson.dumps(head)[:-1] + b',"detail":' + detail + b"}"


def install(state: AppState, store: SchedulerStore, clock_ms: Callable[[], int] | None = None) -> None:
    """Register the schedule-group timer handler. `clock_ms` is the delivery clock (event age), system time."""
    runner: TimerRunner = state.extras["timer_runner"]
    keys: Keys = state.keys
    append = state.redis.register_script(_APPEND_ONCE)
    wall_ms = clock_ms or (lambda: int(time.time() * 1000))

    async def fire(timer: DueTimer) -> Completion | None:
        group = timer.owner.split(":", 1)[1]
        now_ms = await runner.clock.now_ms()
        if timer.key == RECONCILE_KEY:
            await reconcile(state, store, [group], now_ms)
            return Completion(reschedule=(now_ms + RECONCILE_EVERY_MS, b""))
        schedules_key = keys.schedules(group)
        raw = await store.get_schedule_raw(group, timer.key)
        if raw is None:
            return Completion(guard=(schedules_key, timer.key, None))
        record = orjson.loads(raw)
        guard = (schedules_key, timer.key, raw)
        if record.get("State") != "ENABLED":
            return Completion(guard=guard)
        payload = orjson.loads(timer.payload) if timer.payload else {}
        expression = parse_scheduler_expression(record["ScheduleExpression"])
        if payload.get("rev") != record["LastModificationDate"]:  # changed without a new timer: start again
            tick = first_tick(record, now_ms)
            if tick is None:
                return Completion(guard=guard)
            due = tick + flex_delay_ms(record, state.extras.get("scheduler_random", random.random))
            return Completion(reschedule=(due, _timer_payload(tick, record)), guard=guard)
        tick = int(payload["tick_ms"])
        invocation = invocation_id(record["Arn"], tick, record["LastModificationDate"])
        owner = delivery_owner(group)
        stream = keys.deliveries(owner, timer.key, TARGET_ID)
        namespace = keys.unscoped(group)[0]  # the group's account and region (router.namespace)
        event = payload_of(record, invocation, tick, namespace.account_id, namespace.region)
        fields: list[Any] = [
            "id", f"{invocation}:{timer.key}:{TARGET_ID}",
            "event", event,
            "rule", timer.key,
            "target", orjson.dumps(target_snapshot(record)),
            "ingest_ms", wall_ms(),
            "attempts", 0,
            "hops", 0,
        ]  # fmt: skip
        marker = keys.scheduler_invocation(owner, invocation)
        await append(keys=[marker, stream, keys.delivery_lanes(owner)], args=[INVOCATION_TTL_MS, *fields])
        following = next_tick(record, expression, max(tick, now_ms))
        if following is not None:
            due = following + flex_delay_ms(record, state.extras.get("scheduler_random", random.random))
            return Completion(reschedule=(due, _timer_payload(following, record)), guard=guard)
        commands: list[tuple[Any, ...]] = []
        if record.get("ActionAfterCompletion") == "DELETE":
            commands.append(("HDEL", schedules_key, timer.key))
        return Completion(commands, guard=guard)

    runner.handle(OWNER_KIND, fire)


async def reconcile(state: AppState, store: SchedulerStore, groups: list[str] | None, now_ms: int) -> int:
    """Give every ENABLED schedule that should fire but has no timer one (a crash between the two writes)."""
    timers: Timers = state.extras["timers"]
    if groups is None:
        groups = await store.group_keys()  # every namespace's (key-layout names)
    created = 0
    for group in groups:
        for record in await store.schedules(group):
            if record.get("State") != "ENABLED" or await timers.get(group_owner(group), record["Name"]) is not None:
                continue
            if await store.get_schedule(group, record["Name"]) != record:
                continue  # changed (or deleted) meanwhile: its own write set its timer
            if await schedule_timer(state, record, now_ms) is not None:
                created += 1
    if created:
        log.info("scheduler: %d schedule timers re-created", created)
    return created
