"""Scheduled rules that fire: each tick of a rule's ScheduleExpression appends AWS's scheduled-event envelope to the
bus's ingest stream, so it is matched, delivered, retried and dead-lettered like any event.

Each rule with a ScheduleExpression has one durable timer (router.timers) of owner `bus:B` (B the bus's key-layout
name, router.keys `Keys.scoped`, so each namespace's `default` bus has its own), key = the rule name,
payload `{"expr": ..., "anchor_ms": ...}`. The owner's hash tag is the bus's, so firing is one script in the bus's
slot: the timer's completion checks that the rule record is still the one the handler read (guard), appends the
envelope to `sb:{b:N}:bus:B:ingest` with the field `rule` = the rule's name, and schedules the next tick. Exactly one
event per tick, however many router processes run (one claim each); a process killed between claim and append loses
no tick (the claim's lease runs out and another process fires it), and one killed after the append cannot fire it
twice (the append and the completion are one script).

- `rate(n unit)` ticks every period from the minute PutRule stored the expression (re-putting the same expression
  keeps the grid); `cron(...)` ticks at its minutes, in UTC. `time` is the scheduled minute.
- DISABLED rules do not fire: their timer keeps ticking without appending, so EnableRule resumes at the next tick.
  DeleteRule, or a PutRule without a ScheduleExpression, removes the timer.
- Missed ticks (every router was down): the first missed tick fires once, late, stamped with its own minute; the
  others are skipped, and the schedule continues at its next tick after now.
- Scheduled events match exactly their own rule (the ingest worker reads the `rule` field instead of running the
  pattern matcher), as on AWS, where other rules never see another rule's scheduled events.

A reconciliation timer (`~reconcile`, every 30 s, one process at a time) repairs what a crash between a rule write
and its timer write could leave behind; it also runs once at start-up.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson

from router import uuids
from router.arns import Arns
from router.matchers import MATCHING_STATES
from router.schedules.cron import Cron
from router.schedules.expressions import InvalidScheduleExpression, Rate, parse_rule_expression
from router.state import AppState
from router.timers import Completion, DueTimer, TimerRunner, Timers

__all__ = ["OWNER_KIND", "RECONCILE_KEY", "install", "owner", "reconcile", "rule_changed"]

log = logging.getLogger("switchboard.schedules")

OWNER_KIND = "bus"
RECONCILE_KEY = "~reconcile"
"""Not a rule name (rule names match `[.\\-_A-Za-z0-9]+`)."""
RECONCILE_EVERY_MS = 30_000
_MINUTE_MS = 60_000


def owner(bus: str) -> str:
    return f"{OWNER_KIND}:{bus}"


def _services(state: AppState) -> tuple[Timers, TimerRunner]:
    return state.extras["timers"], state.extras["timer_runner"]


def first_tick(expression: Rate | Cron, anchor_ms: int, after_ms: int) -> int | None:
    """The first tick strictly after `after_ms` (rate ticks count from `anchor_ms`, whole minutes)."""
    if isinstance(expression, Rate):
        return expression.next_after(after_ms, anchor_ms)
    found = expression.next_after(datetime.fromtimestamp(after_ms / 1000, UTC))
    return None if found is None else int(found.timestamp() * 1000)


async def rule_changed(state: AppState, bus: str, name: str, record: dict[str, object] | None) -> None:
    """Keep the rule's timer in line with its stored record (called after PutRule and DeleteRule)."""
    timers, runner = _services(state)
    text = record.get("ScheduleExpression") if record is not None else None
    if not isinstance(text, str):
        await timers.cancel(owner(bus), name)
        return
    current = await timers.get(owner(bus), name)
    if current is not None and _payload(current[1]).get("expr") == text:
        return  # same expression: the tick grid goes on
    now_ms = await runner.clock.now_ms()
    await _schedule_fresh(timers, bus, name, text, now_ms)
    await _ensure_reconciliation(timers, bus, now_ms)
    runner.wake()


async def _ensure_reconciliation(timers: Timers, bus: str, now_ms: int) -> None:
    if await timers.get(owner(bus), RECONCILE_KEY) is None:
        await timers.schedule(owner(bus), RECONCILE_KEY, now_ms + RECONCILE_EVERY_MS)


async def _schedule_fresh(timers: Timers, bus: str, name: str, text: str, now_ms: int) -> None:
    try:
        expression = parse_rule_expression(text)
    except InvalidScheduleExpression as err:
        log.warning(
            "bus %s rule %s: stored ScheduleExpression %r is not valid, not scheduled: %s", bus, name, text, err
        )
        await timers.cancel(owner(bus), name)
        return
    anchor_ms = now_ms - now_ms % _MINUTE_MS
    due = first_tick(expression, anchor_ms, now_ms)
    if due is None:
        await timers.cancel(owner(bus), name)
        return
    await timers.schedule(owner(bus), name, due, orjson.dumps({"expr": text, "anchor_ms": anchor_ms}))


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _payload(raw: bytes) -> dict[str, object]:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def scheduled_event(arns: Arns, bus: str, name: str, tick_ms: int) -> bytes:
    """AWS's scheduled-event envelope for one tick, in AWS's field order."""
    minute = datetime.fromtimestamp((tick_ms - tick_ms % _MINUTE_MS) / 1000, UTC)
    return orjson.dumps(
        {
            "version": "0",
            "id": uuids.one(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": arns.account_id,
            "time": minute.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": arns.region,
            "resources": [arns.rule(bus, name)],
            "detail": {},
        }
    )


def install(state: AppState) -> None:
    """Register the scheduled-rule timer handler with the process's timer runner."""
    runner = state.extras["timer_runner"]
    keys = state.keys

    async def fire(timer: DueTimer) -> Completion | None:
        bus = timer.owner.split(":", 1)[1]
        now_ms = await runner.clock.now_ms()
        if timer.key == RECONCILE_KEY:
            await reconcile(state, buses=[bus], now_ms=now_ms)
            return Completion(reschedule=(now_ms + RECONCILE_EVERY_MS, b""))
        rules_key = keys.rules(bus)
        found = await state.redis.hget(rules_key, timer.key)
        if found is None:
            return Completion(guard=(rules_key, timer.key, None))  # the rule is gone: so is its timer
        raw = _bytes(found)
        record = orjson.loads(raw)
        text = record.get("ScheduleExpression")
        payload = _payload(timer.payload)
        if not isinstance(text, str):
            return Completion(guard=(rules_key, timer.key, raw))
        try:
            expression = parse_rule_expression(text)
        except InvalidScheduleExpression:
            log.warning(
                "bus %s rule %s: stored ScheduleExpression %r is not valid; timer removed", bus, timer.key, text
            )
            return Completion(guard=(rules_key, timer.key, raw))
        if payload.get("expr") != text:  # changed without a new timer (a crash in between): start its grid now
            anchor_ms = now_ms - now_ms % _MINUTE_MS
            payload = {"expr": text, "anchor_ms": anchor_ms}
            due = first_tick(expression, anchor_ms, now_ms)
            reschedule = None if due is None else (due, orjson.dumps(payload))
            return Completion(reschedule=reschedule, guard=(rules_key, timer.key, raw))
        anchor = payload.get("anchor_ms")
        next_due = first_tick(
            expression, anchor if isinstance(anchor, int) else timer.due_ms, max(timer.due_ms, now_ms)
        )
        commands: list[tuple[object, ...]] = []
        if record.get("State", "ENABLED") in MATCHING_STATES:
            namespace, bus_name = keys.unscoped(bus)  # the bus's own account and region (router.namespace)
            event = scheduled_event(namespace.arns, bus_name, timer.key, timer.due_ms)
            commands.append(("XADD", keys.ingest(bus), "*", "event", event, "rule", timer.key))
        reschedule = None if next_due is None else (next_due, timer.payload)
        return Completion(commands, reschedule=reschedule, guard=(rules_key, timer.key, raw))

    runner.handle(OWNER_KIND, fire)


async def reconcile(state: AppState, *, buses: list[str] | None = None, now_ms: int | None = None) -> int:
    """Give every scheduled rule without a timer one, and make sure the reconciliation timer exists.

    Returns how many rule timers were created."""
    timers, runner = _services(state)
    if now_ms is None:
        now_ms = await runner.clock.now_ms()
    if buses is None:
        buses = sorted(
            n.decode() if isinstance(n, bytes) else str(n) for n in await state.redis.hkeys(state.keys.buses)
        )
    created = 0
    for bus in buses:
        records = await state.redis.hgetall(state.keys.rules(bus))
        scheduled = False
        for raw_name, raw in records.items():
            name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
            text = _payload(_bytes(raw)).get("ScheduleExpression")
            if not isinstance(text, str):
                continue
            scheduled = True
            if await timers.get(owner(bus), name) is None:
                await _schedule_fresh(timers, bus, name, text, now_ms)
                created += 1
        if scheduled:
            await _ensure_reconciliation(timers, bus, now_ms)
    if created:
        log.info("scheduled rules: %d timers re-created", created)
    return created
