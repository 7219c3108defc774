"""Sagas as explicit state machines: states, the events and timers each reacts to, and the transitions between them.

This is the one model the engine runs. A saga declared as steps (sagas.steps) compiles into it, so both forms get
the same durability, timers, idempotency and pictures.

    machine = StateMachine(
        name="payment", queue="payment-saga", bus="orders", correlate="detail.orderId",
        start=[On("OrderSubmitted", to="charging", do=[remember_amount])],
        states=[
            State("charging", enter=[Publish("ChargePayment", charge_detail)], timeout_s=30, on=[
                On("PaymentSucceeded", to="paid"),
                On("PaymentFailed", to="declined"),
                On(TIMEOUT, to="declined"),
            ]),
            Final("paid", COMPLETED, enter=[Publish("OrderPaid")]),
            Final("declined", CANCELLED),
        ],
    ).compile()

- A **trigger** is an event (`"PaymentSucceeded"` is short for `Event(detail_type="PaymentSucceeded")`; `Event` also
  takes `source` and an EventBridge `pattern`, matched by the `patterns` package), a timer (`Timer("reminder")`, or
  `TIMEOUT`, the state's own `timeout_s`), a control input (`RESUME`, from `switchboard saga resume`), or `ALWAYS`
  (taken as soon as the state is entered: a pass-through or choice state).
- `On(trigger, to=..., when=..., do=[...])`: in the state, the first `On` whose trigger matches and whose guard
  `when(ctx)` holds is taken: its actions `do` run, then the instance leaves the state (its `TIMEOUT` and every
  timer it scheduled are cancelled) and enters `to` (its `enter` actions run, its timeout starts). `to=None` stays
  without leaving; `to` equal to the current state re-enters it (a retry: `ctx.attempt` counts up).
- Actions are plain functions of a `sagas.context.Context`; `Publish`, `Send`, `Assign`, `Schedule` and `Cancel`
  are ready-made ones that the diagrams can name.
- `correlate` finds the instance an event belongs to: a dotted path into the event (`detail.orderId`), several
  tried in order, or a function. An event carrying a `saga` member of this saga type (a reply) is correlated by it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import patterns
from sagas.context import Context
from sagas.errors import SagaDefinitionError
from sagas.instance import FINAL_STATUSES, START, STATUSES
from sagas.keys import valid_type_name

__all__ = [
    "ALWAYS",
    "RESUME",
    "TIMEOUT",
    "Action",
    "Assign",
    "Cancel",
    "Control",
    "Definition",
    "Event",
    "Final",
    "Guard",
    "On",
    "Publish",
    "Schedule",
    "Send",
    "State",
    "StateMachine",
    "Timer",
    "Trigger",
]

Action = Callable[[Context], None]
Guard = Callable[[Context], bool]
Payload = Callable[[Context], Mapping[str, Any]] | Mapping[str, Any] | None

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:")


def _check_name(what: str, name: str) -> None:
    if not name or len(name) > 64 or not set(name) <= _NAME_CHARS:
        raise SagaDefinitionError(f"{what} {name!r}: use 1-64 letters, digits, '.', '-', '_' or ':'")


@dataclass(frozen=True, slots=True)
class Event:
    """Matches an event by detail-type, source and/or an EventBridge event pattern (all that are given)."""

    detail_type: str | None = None
    source: str | None = None
    pattern: Mapping[str, Any] | None = None
    _machine: patterns.Machine | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.detail_type is None and self.source is None and self.pattern is None:
            raise SagaDefinitionError("Event() needs a detail_type, a source or a pattern")
        if self.pattern is not None:
            machine = patterns.Machine()
            try:
                machine.add_rule("on", dict(self.pattern))
            except patterns.InvalidEventPattern as err:
                raise SagaDefinitionError(f"Event pattern is not valid: {err}") from err
            object.__setattr__(self, "_machine", machine)

    def matches(self, event: Mapping[str, Any]) -> bool:
        if self.detail_type is not None and event.get("detail-type") != self.detail_type:
            return False
        if self.source is not None and event.get("source") != self.source:
            return False
        if self._machine is None:
            return True
        try:
            return bool(self._machine.matches_for_event(dict(event)))
        except patterns.InvalidEvent:
            return False

    @property
    def label(self) -> str:
        return self.detail_type or self.source or "event pattern"


@dataclass(frozen=True, slots=True)
class Timer:
    """Matches the firing of the instance's timer `name` (scheduled with `ctx.schedule` or `Schedule`)."""

    name: str

    def __post_init__(self) -> None:
        _check_name("timer", self.name)

    @property
    def label(self) -> str:
        return "timeout" if self.name == TIMEOUT_NAME else f"timer {self.name}"


@dataclass(frozen=True, slots=True)
class Control:
    """Matches a control input sent by an operator (`switchboard saga resume` sends `RESUME`)."""

    name: str

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class _Always:
    @property
    def label(self) -> str:
        return ""


TIMEOUT_NAME = "timeout"
TIMEOUT = Timer(TIMEOUT_NAME)
"""The firing of the current state's `timeout_s`."""
RESUME = Control("resume")
ALWAYS = _Always()
"""Taken as soon as the state is entered (with its guard, if any)."""

Trigger = Event | Timer | Control | _Always


def _trigger(value: Trigger | str) -> Trigger:
    if isinstance(value, str):
        return Event(detail_type=value)
    if isinstance(value, Event | Timer | Control | _Always):
        return value
    raise SagaDefinitionError(f"{value!r} is not a trigger: use a detail-type, Event(...), Timer(...), TIMEOUT")


@dataclass(frozen=True, slots=True, init=False)
class On:
    trigger: Trigger
    to: str | None
    when: Guard | None
    do: tuple[Action, ...]
    label: str
    """What the diagram writes on the arrow (the trigger, and the guard's label)."""

    def __init__(
        self,
        trigger: Trigger | str,
        *,
        to: str | None = None,
        when: Guard | None = None,
        do: Sequence[Action] | Action = (),
        label: str | None = None,
    ) -> None:
        actions = (do,) if callable(do) else tuple(do)
        resolved = _trigger(trigger)
        object.__setattr__(self, "trigger", resolved)
        object.__setattr__(self, "to", to)
        object.__setattr__(self, "when", when)
        object.__setattr__(self, "do", actions)
        text = resolved.label
        if label:
            text = f"{text} [{label}]" if text else f"[{label}]"
        object.__setattr__(self, "label", text)


@dataclass(frozen=True, slots=True, init=False)
class State:
    name: str
    on: tuple[On, ...]
    enter: tuple[Action, ...]
    timeout_s: float | Callable[[Context], float] | None
    status: str
    final: bool
    description: str
    group: str
    """Drawn together in the diagram (sagas.steps puts a step's compensation in group "compensation")."""

    def __init__(
        self,
        name: str,
        *,
        on: Sequence[On] = (),
        enter: Sequence[Action] | Action = (),
        timeout_s: float | Callable[[Context], float] | None = None,
        status: str = "RUNNING",
        final: bool = False,
        description: str = "",
        group: str = "",
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "on", tuple(on))
        object.__setattr__(self, "enter", (enter,) if callable(enter) else tuple(enter))
        object.__setattr__(self, "timeout_s", timeout_s)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "final", final)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "group", group)


def Final(name: str, status: str = "COMPLETED", *, enter: Sequence[Action] = (), description: str = "") -> State:  # noqa: N802
    """A final state: the saga ends there with `status` (COMPLETED, COMPENSATED, CANCELLED or FAILED)."""
    return State(name, enter=enter, status=status, final=True, description=description)


# ready-made actions ---------------------------------------------------------------------------------------------
def _payload(value: Payload, ctx: Context) -> dict[str, Any]:
    if value is None:
        return {}
    made = value(ctx) if callable(value) else value
    return dict(made)


@dataclass(frozen=True, slots=True)
class Publish:
    """Publish an event onto a bus (PutEvents, after the commit). `detail` is a dict or a function of the context."""

    detail_type: str
    detail: Payload = None
    source: str | None = None
    bus: str | None = None

    def __call__(self, ctx: Context) -> None:
        ctx.publish(self.detail_type, _payload(self.detail, ctx), source=self.source, bus=self.bus)

    @property
    def label(self) -> str:
        return self.detail_type


@dataclass(frozen=True, slots=True)
class Send:
    """Send a command straight onto a queue (after the commit). `body` is a dict or a function of the context."""

    queue: str
    body: Payload = None

    def __call__(self, ctx: Context) -> None:
        ctx.send(self.queue, _payload(self.body, ctx))

    @property
    def label(self) -> str:
        return f"queue {self.queue}"


@dataclass(frozen=True, slots=True)
class Assign:
    """Copy values into the instance's data: `Assign(lambda ctx: {"amount": ctx.detail["amount"]})`."""

    values: Callable[[Context], Mapping[str, Any]]

    def __call__(self, ctx: Context) -> None:
        ctx.data.update(self.values(ctx))


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    delay_s: float | Callable[[Context], float]
    scope: str | None = None

    def __call__(self, ctx: Context) -> None:
        delay = self.delay_s(ctx) if callable(self.delay_s) else self.delay_s
        ctx.schedule(self.name, delay, scope=self.scope)


@dataclass(frozen=True, slots=True)
class Cancel:
    name: str

    def __call__(self, ctx: Context) -> None:
        ctx.cancel(self.name)


# correlation ----------------------------------------------------------------------------------------------------
Correlate = str | Sequence[str] | Callable[[Mapping[str, Any]], object]


def _path_value(event: Mapping[str, Any], path: str) -> object:
    value: object = event
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _correlation_text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= 256:
        return value
    return None


# the compiled definition ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Definition:
    """A validated state machine, ready for the engine, the runtime, the registry and the diagrams."""

    name: str
    queue: str
    bus: str
    source: str
    start: tuple[On, ...]
    states: Mapping[str, State]
    correlate: Correlate
    shards: int
    description: str = ""
    kind: str = "state-machine"
    """`state-machine`, or `steps` for a saga compiled from steps (sagas.steps)."""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def correlation(self, event: Mapping[str, Any]) -> str | None:
        """The instance id this event belongs to, or None."""
        detail = event.get("detail")
        if isinstance(detail, Mapping):
            meta = detail.get("saga")
            if isinstance(meta, Mapping) and meta.get("type") == self.name:
                found = _correlation_text(meta.get("id"))
                if found is not None:
                    return found
        if callable(self.correlate):
            return _correlation_text(self.correlate(event))
        paths = [self.correlate] if isinstance(self.correlate, str) else list(self.correlate)
        for path in paths:
            found = _correlation_text(_path_value(event, path))
            if found is not None:
                return found
        return None

    def describe(self) -> dict[str, Any]:
        """The definition as data (JSON): what `switchboard saga` and the pages show without importing the code."""
        states = []
        edges = [{"from": START, "to": on.to, "label": on.label, "kind": "start"} for on in self.start]
        for state in self.states.values():
            sends = [getattr(a, "label", None) for a in state.enter]
            states.append(
                {
                    "name": state.name,
                    "status": state.status,
                    "final": state.final,
                    "description": state.description,
                    "group": state.group,
                    "sends": [s for s in sends if s],
                    "timeout": state.timeout_s is not None,
                }
            )
            for on in state.on:
                if isinstance(on.trigger, Timer) and on.to is None:
                    continue
                kind = "timer" if isinstance(on.trigger, Timer) else "event"
                if isinstance(on.trigger, _Always):
                    kind = "always"
                elif isinstance(on.trigger, Control):
                    kind = "control"
                edges.append({"from": state.name, "to": on.to or state.name, "label": on.label, "kind": kind})
        return {
            "name": self.name,
            "kind": self.kind,
            "queue": self.queue,
            "bus": self.bus,
            "source": self.source,
            "shards": self.shards,
            "description": self.description,
            "states": states,
            "edges": edges,
            **dict(self.extra),
        }


@dataclass(frozen=True, slots=True)
class StateMachine:
    name: str
    queue: str
    correlate: Correlate
    start: Sequence[On]
    states: Sequence[State]
    bus: str = "default"
    source: str | None = None
    """The source of the events it publishes (default `sagas.<name>`)."""
    shards: int = 8
    description: str = ""

    def compile(self) -> Definition:
        return _compile(self, kind="state-machine", extra={})


def _compile(machine: StateMachine, *, kind: str, extra: Mapping[str, Any]) -> Definition:
    if not valid_type_name(machine.name):
        raise SagaDefinitionError(f"saga name {machine.name!r}: use 1-64 letters, digits, '.', '-' or '_'")
    if not machine.queue or "{" in machine.queue or "}" in machine.queue:
        raise SagaDefinitionError(f"saga {machine.name}: queue {machine.queue!r} is not a queue name")
    if not 1 <= machine.shards <= 1024:
        raise SagaDefinitionError(f"saga {machine.name}: shards must be 1-1024, not {machine.shards}")
    states: dict[str, State] = {}
    for state in machine.states:
        _check_name("state", state.name)
        if state.name in states:
            raise SagaDefinitionError(f"saga {machine.name}: state {state.name} is declared twice")
        if state.status not in STATUSES:
            raise SagaDefinitionError(
                f"state {state.name}: status {state.status!r} is not one of {', '.join(STATUSES)}"
            )
        if state.final != (state.status in FINAL_STATUSES):
            raise SagaDefinitionError(
                f"state {state.name}: final states have a final status (COMPLETED, COMPENSATED, CANCELLED, FAILED) "
                "and other states do not"
            )
        if state.final and (state.on or state.timeout_s is not None):
            raise SagaDefinitionError(f"state {state.name}: a final state has no transitions and no timeout")
        states[state.name] = state
    if not machine.start:
        raise SagaDefinitionError(f"saga {machine.name}: no start transition (start=[On(...)])")
    for on in machine.start:
        if not isinstance(on.trigger, Event):
            raise SagaDefinitionError(f"saga {machine.name}: a start transition is taken on an event")
        if on.to is None:
            raise SagaDefinitionError(f"saga {machine.name}: a start transition needs a target state (to=...)")
    for state_name, ons in [(START, machine.start), *((s.name, s.on) for s in states.values())]:
        for on in ons:
            if on.to is not None and on.to not in states:
                raise SagaDefinitionError(f"saga {machine.name}: {state_name} -> {on.to}: no state {on.to}")
            is_timeout = isinstance(on.trigger, Timer) and on.trigger.name == TIMEOUT_NAME
            if is_timeout and states[state_name].timeout_s is None:
                raise SagaDefinitionError(f"state {state_name}: reacts to TIMEOUT but has no timeout_s")
            if isinstance(on.trigger, _Always) and on.to is None:
                raise SagaDefinitionError(f"state {state_name}: an ALWAYS transition needs a target state")
    return Definition(
        name=machine.name,
        queue=machine.queue,
        bus=machine.bus,
        source=machine.source or f"sagas.{machine.name}",
        start=tuple(machine.start),
        states=states,
        correlate=machine.correlate,
        shards=machine.shards,
        description=machine.description,
        kind=kind,
        extra=dict(extra),
    )
