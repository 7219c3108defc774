"""The engine: given a definition, an instance (or none yet) and one input, decide what happens. Pure: no I/O.

`decide` returns a `Decision`: the new instance, the outgoing messages (outbox entries: events, commands, timers to
schedule or cancel), the history entries and the input ids to remember, which sagas.store commits in one script.
Nothing here reads a clock or Redis, so a decision can be made again from fresh state after an optimistic-concurrency
conflict and only the committed one counts; a replayed or redelivered input is recognised by its ids before the
engine is asked (sagas.store), so a side effect is never decided twice.

Outcomes:
- `applied`: a transition was taken (from the start: a new instance).
- `ignored`: the instance exists but its state does not react to the input (or it has ended): recorded in the
  history, the input's ids remembered, nothing sent.
- `stale`: a reply to a message the instance no longer waits for (an earlier attempt): recorded, nothing else.
- `orphan`: no instance, and the input does not start one: nothing is stored.
- `stale-timer`: a timer firing that was cancelled or replaced meanwhile: nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagas.context import Context, SagaMessage
from sagas.errors import SagaDefinitionError
from sagas.instance import START, Instance
from sagas.machine import TIMEOUT_NAME, Control, Definition, Event, On, Timer, _Always

__all__ = ["APPLIED", "IGNORED", "ORPHAN", "STALE", "STALE_TIMER", "Decision", "Input", "decide"]

APPLIED = "applied"
IGNORED = "ignored"
STALE = "stale"
ORPHAN = "orphan"
STALE_TIMER = "stale-timer"

MAX_HOPS = 32
"""ALWAYS transitions taken in a row at most (a definition that loops forever fails instead of hanging)."""


@dataclass(frozen=True, slots=True)
class Input:
    kind: str
    """`event`, `timer` or `control`."""
    ids: tuple[str, ...]
    """Idempotency ids: an input any of whose ids the instance has seen is a duplicate (sagas.store)."""
    event: Mapping[str, Any] | None = None
    timer: str | None = None
    gen: int = 0
    control: str | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any], delivery_id: str | None = None) -> Input:
        """An event from a queue message: ids `d:<delivery id>`, `e:<event id>`, and for a reply that names the
        message it answers, `r:<message id>:<detail-type>`."""
        ids: list[str] = []
        if delivery_id:
            ids.append(f"d:{delivery_id}")
        event_id = event.get("id")
        if isinstance(event_id, str) and event_id:
            ids.append(f"e:{event_id}")
        reply_to = _reply_to(event)
        if reply_to is not None:
            ids.append(f"r:{reply_to}:{event.get('detail-type')}")
        return cls("event", tuple(ids), event=event)

    @classmethod
    def from_timer(cls, name: str, gen: int) -> Input:
        return cls("timer", (f"t:{name}:{gen}",), timer=name, gen=gen)

    @classmethod
    def from_control(cls, name: str, control_id: str) -> Input:
        return cls("control", (f"c:{control_id}",), control=name)

    @property
    def label(self) -> str:
        if self.kind == "timer":
            return "timeout" if self.timer == TIMEOUT_NAME else f"timer {self.timer}"
        if self.kind == "control":
            return f"control {self.control}"
        return str((self.event or {}).get("detail-type", "event"))


def _reply_to(event: Mapping[str, Any]) -> str | None:
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return None
    meta = detail.get("saga")
    if not isinstance(meta, Mapping):
        return None
    message_id = meta.get("messageId")
    return message_id if isinstance(message_id, str) and message_id else None


@dataclass(slots=True)
class Decision:
    outcome: str
    instance: Instance | None = None
    messages: list[SagaMessage] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    seen: tuple[str, ...] = ()

    @property
    def commit(self) -> bool:
        """Whether there is anything to store."""
        return self.outcome in (APPLIED, IGNORED, STALE)


def _matches(on: On, inp: Input) -> bool:
    trigger = on.trigger
    if isinstance(trigger, Event):
        return inp.kind == "event" and inp.event is not None and trigger.matches(inp.event)
    if isinstance(trigger, Timer):
        return inp.kind == "timer" and trigger.name == inp.timer
    if isinstance(trigger, Control):
        return inp.kind == "control" and trigger.name == inp.control
    return False


def _first(ons: tuple[On, ...], inp: Input | None, ctx: Context) -> On | None:
    for on in ons:
        if inp is None:
            if not isinstance(on.trigger, _Always):
                continue
        elif not _matches(on, inp):
            continue
        if on.when is None or on.when(ctx):
            return on
    return None


def decide(
    definition: Definition,
    instance: Instance | None,
    inp: Input,
    *,
    now_ms: int,
    instance_id: str,
    instance_key: str,
) -> Decision:
    """What `inp` does to the instance (None: there is none yet). The instance passed in is not modified."""
    if instance is None:
        if inp.kind != "event":
            return Decision(ORPHAN)
        fresh = Instance(definition.name, instance_id, instance_key, created_ms=now_ms, updated_ms=now_ms)
        ctx = _context(definition, fresh, inp, now_ms)
        on = _first(definition.start, inp, ctx)
        if on is None:
            return Decision(ORPHAN)
        return _apply(definition, ctx, on, inp)
    current = instance.copy()
    if inp.kind == "timer":
        record = current.timers.get(inp.timer or "")
        if record is None or record.gen != inp.gen:
            return Decision(STALE_TIMER)
        del current.timers[inp.timer or ""]
    ctx = _context(definition, current, inp, now_ms)
    if not current.final:
        reply_to = _reply_to(inp.event) if inp.event is not None else None
        if reply_to is not None and _is_own(definition, inp) and reply_to not in current.expecting:
            return _record(current, inp, now_ms, STALE, reply_to=reply_to)
        on = _first(definition.states[current.state].on, inp, ctx)
        if on is not None:
            return _apply(definition, ctx, on, inp)
    return _record(current, inp, now_ms, IGNORED)


def _is_own(definition: Definition, inp: Input) -> bool:
    detail = (inp.event or {}).get("detail")
    meta = detail.get("saga") if isinstance(detail, Mapping) else None
    return isinstance(meta, Mapping) and meta.get("type") == definition.name


def _context(definition: Definition, instance: Instance, inp: Input, now_ms: int) -> Context:
    return Context(
        instance,
        now_ms=now_ms,
        event=dict(inp.event) if inp.event is not None else None,
        timer=inp.timer,
        control=inp.control,
        default_bus=definition.bus,
        default_source=definition.source,
    )


def _record(instance: Instance, inp: Input, now_ms: int, outcome: str, **more: Any) -> Decision:
    instance.version += 1
    instance.updated_ms = now_ms
    entry: dict[str, Any] = {"at": now_ms, "input": inp.label, "outcome": outcome, "state": instance.state, **more}
    _event_id(entry, inp)
    return Decision(outcome, instance, [], [entry], inp.ids)


def _event_id(entry: dict[str, Any], inp: Input) -> None:
    if inp.event is not None and isinstance(inp.event.get("id"), str):
        entry["event"] = inp.event["id"]


def _apply(definition: Definition, ctx: Context, on: On, inp: Input) -> Decision:
    instance = ctx.instance
    history: list[dict[str, Any]] = []
    hop_input: Input | None = inp
    for _ in range(MAX_HOPS):
        before = len(ctx.messages)
        source_state = instance.state
        leaving = _state_timers(instance) if on.to is not None else {}
        ctx.entering = on.to
        for action in on.do:
            action(ctx)
        ctx.entering = None
        if on.to is not None:
            _leave(ctx, leaving)
            _enter(definition, ctx, on.to, came_from=source_state)
            sent_ids = [m["id"] for m in ctx.messages[before:] if m["kind"] in ("event", "command")]
            instance.expecting = [] if instance.final else sent_ids
        else:
            instance.expecting += [m["id"] for m in ctx.messages[before:] if m["kind"] in ("event", "command")]
        entry: dict[str, Any] = {
            "at": ctx.now_ms,
            "input": hop_input.label if hop_input is not None else "(always)",
            "outcome": APPLIED,
            "from": source_state,
            "to": instance.state,
            "attempt": instance.attempts.get(instance.state, 1),
        }
        sent = [_sent(m) for m in ctx.messages[before:] if m["kind"] in ("event", "command")]
        if sent:
            entry["sent"] = sent
        if ctx.notes:
            entry["notes"], ctx.notes = ctx.notes, []
        if hop_input is not None:
            _event_id(entry, hop_input)
        history.append(entry)
        if instance.final:
            break
        following = _first(definition.states[instance.state].on, None, ctx)
        if following is None:
            break
        on, hop_input = following, None
    else:
        raise SagaDefinitionError(
            f"saga {definition.name}: more than {MAX_HOPS} ALWAYS transitions in a row from {instance.state}"
        )
    instance.version += 1
    instance.updated_ms = ctx.now_ms
    return Decision(APPLIED, instance, ctx.messages, history, inp.ids)


def _sent(message: SagaMessage) -> dict[str, str]:
    what = message.get("detail_type") if message["kind"] == "event" else f"queue {message.get('queue')}"
    return {"id": str(message["id"]), "type": str(what)}


def _state_timers(instance: Instance) -> dict[str, int]:
    """The timers of the current state (name -> generation), before a transition's actions run."""
    if instance.state == START:
        return {}
    return {n: t.gen for n, t in instance.timers.items() if t.scope == instance.state}


def _leave(ctx: Context, leaving: dict[str, int]) -> None:
    """Cancel the timers of the state being left (its TIMEOUT and whatever it scheduled), except those the
    transition's own actions (re)scheduled."""
    for name, gen in leaving.items():
        record = ctx.instance.timers.get(name)
        if record is not None and record.gen == gen:
            ctx.cancel(name)


def _enter(definition: Definition, ctx: Context, target: str, *, came_from: str) -> None:
    instance = ctx.instance
    state = definition.states[target]
    if target == came_from:
        instance.attempts[target] = instance.attempts.get(target, 0) + 1
    else:
        instance.attempts[target] = 1
        instance.entered_ms[target] = ctx.now_ms
    instance.state = target
    instance.status = state.status
    for action in state.enter:
        action(ctx)
    if state.timeout_s is not None:
        delay = state.timeout_s(ctx) if callable(state.timeout_s) else state.timeout_s
        ctx.schedule(TIMEOUT_NAME, float(delay))
    if state.final:
        for name in list(instance.timers):
            ctx.cancel(name)
