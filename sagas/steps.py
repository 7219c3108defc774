"""Sagas declared as steps: each step sends a command or publishes an event, waits for its outcome events, retries
with backoff, times out, and has a compensation; compiled into a sagas.machine state machine.

    saga = Saga(
        name="order-to-cash", queue="order-saga", bus="orders", correlate="detail.orderId",
        start="OrderSubmitted", init=lambda ctx: ctx.data.update(amount=ctx.detail["amount"]),
        steps=[
            Step("payment", send=Publish("ChargePayment", charge), succeed_on=["PaymentSucceeded"],
                 fail_on=["PaymentFailed"], timeout_s=30, retry=Retry(on=[TIMEOUT_ON], max_attempts=3),
                 compensate=Compensation(Publish("RefundPayment", refund), succeed_on=["PaymentRefunded"])),
            Step("shipping", send=..., succeed_on=["ShipmentCreated"], retry=Retry(on=["ShipmentFailed"], ...)),
        ],
        on_completed=[Publish("OrderCompleted", summary)],
    ).compile()

What it compiles to (state names are what `switchboard saga list --state` and the pages show):

- one state per step, named after it (status `RUNNING`, or `WAITING` for `wait=True` steps, e.g. an approval a
  person gives): entering sends the step's message and starts its `timeout_s`;
- an outcome in `succeed_on` marks the step done (`record` copies what later steps need into the data) and moves
  to the next step whose `when(data)` holds, or to `completed`;
- an outcome in `retry.on` (the string `timeout` stands for the step's timeout) is retried: after
  `interval_s * backoff_rate ** (attempt - 1)` (at most `max_interval_s`) the step is entered again and sends again,
  until `max_attempts` attempts were made or the next one would start later than `window_s` after the first;
- an outcome in `fail_on`, a timeout that is not retried, or retries used up: the step failed, and the completed
  steps are compensated **in reverse order**, one after the other: state `compensate:STEP` sends the compensation
  and waits for its `succeed_on` (none: it does not wait); its failures are retried by its own `Retry` and, once
  that is used up, the instance is **parked** in `parked:STEP` (status `PARKED`, counted and listed) until an
  operator resumes it (`switchboard saga resume`), which tries the compensation again;
- the ends: `completed` (COMPLETED), `compensated` (COMPENSATED: something was compensated), `cancelled`
  (CANCELLED: the failure came before anything needed compensating), each publishing its `on_*` messages.

Every attempt sends a new message (its own message id), with the same `ctx.key` idempotency key (`TYPE/ID/STEP`),
so a service can make a retried charge harmless; a reply to an earlier attempt is stale and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sagas.context import Context
from sagas.errors import SagaDefinitionError
from sagas.instance import CANCELLED, COMPENSATED, COMPENSATING, COMPLETED, PARKED, RUNNING, WAITING
from sagas.machine import (
    ALWAYS,
    RESUME,
    TIMEOUT,
    TIMEOUT_NAME,
    Action,
    Correlate,
    Definition,
    Event,
    Final,
    On,
    State,
    StateMachine,
    Timer,
    _compile,
)

__all__ = ["TIMEOUT_ON", "Compensation", "Retry", "Saga", "Step"]

TIMEOUT_ON = TIMEOUT_NAME
"""In `Retry.on`: the step's own timeout is retried."""

RETRY_TIMER = "retry"
COMPLETED_STATE = "completed"
COMPENSATED_STATE = "compensated"
CANCELLED_STATE = "cancelled"
BEGIN_STATE = "begin"
_TO_COMPENSATE = frozenset({"done", "unknown"})
"""Step statuses whose effects a compensation undoes: done, or timed out (it may have acted)."""

Outcome = str | Event


@dataclass(frozen=True, slots=True)
class Retry:
    on: Sequence[Outcome] = (TIMEOUT_ON,)
    max_attempts: int = 3
    """Attempts in all, the first one included."""
    interval_s: float = 1.0
    backoff_rate: float = 2.0
    max_interval_s: float | None = None
    window_s: float | None = None
    """No attempt starts later than this after the first one (the bounded window of a provider that is down)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.interval_s < 0 or self.backoff_rate < 1:
            raise SagaDefinitionError("Retry: max_attempts >= 1, interval_s >= 0 and backoff_rate >= 1")

    def delay_s(self, attempt: int) -> float:
        """The wait before attempt `attempt + 1`."""
        delay = self.interval_s * self.backoff_rate ** max(0, attempt - 1)
        return min(delay, self.max_interval_s) if self.max_interval_s is not None else delay


@dataclass(frozen=True, slots=True)
class Compensation:
    send: Action
    succeed_on: Sequence[Outcome] = ()
    """Outcome events that confirm it; none: it is sent and the saga moves on at once."""
    fail_on: Sequence[Outcome] = ()
    timeout_s: float | None = None
    retry: Retry | None = None
    """Retries of a compensation that failed (any `fail_on` event) or timed out: every failure is retried (its
    `on` list is not used); once the attempts or the window are used up, the instance is parked."""


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    send: Action | None = None
    """What entering the step does: a `Publish` or `Send` (or any action); None sends nothing (a pure wait)."""
    succeed_on: Sequence[Outcome] = ()
    fail_on: Sequence[Outcome] = ()
    retry: Retry | None = None
    timeout_s: float | Callable[[Context], float] | None = None
    compensate: Compensation | None = None
    when: Callable[[Mapping[str, Any]], bool] | None = None
    """Run the step only when `when(data)` holds (otherwise it is skipped)."""
    when_label: str = ""
    record: Callable[[Context], None] | None = None
    """Called on success with the context (ctx.detail is the outcome's detail): copy what later steps need."""
    wait: bool = False
    """An external event or a person answers (status WAITING), e.g. an approval with a deadline."""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Saga:
    name: str
    queue: str
    correlate: Correlate
    start: Outcome
    steps: Sequence[Step]
    init: Callable[[Context], None] | None = None
    """Runs on the start event, before the first step: copy what the saga needs from it into `ctx.data`."""
    bus: str = "default"
    source: str | None = None
    shards: int = 8
    on_completed: Sequence[Action] = ()
    on_compensated: Sequence[Action] = ()
    on_cancelled: Sequence[Action] = ()
    on_parked: Sequence[Action] = ()
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def compile(self) -> Definition:
        return _Compiler(self).compile()


def _outcomes(values: Sequence[Outcome]) -> list[Event]:
    return [v if isinstance(v, Event) else Event(detail_type=v) for v in values if v != TIMEOUT_ON]


def _compensation_state(step: str) -> str:
    return f"compensate:{step}"


def _parked_state(step: str) -> str:
    return f"parked:{step}"


class _Compiler:
    def __init__(self, saga: Saga) -> None:
        self.saga = saga
        self.steps = list(saga.steps)
        names = [s.name for s in self.steps]
        if not names:
            raise SagaDefinitionError(f"saga {saga.name}: no steps")
        if len(set(names)) != len(names):
            raise SagaDefinitionError(f"saga {saga.name}: two steps have one name")
        reserved = {COMPLETED_STATE, COMPENSATED_STATE, CANCELLED_STATE, BEGIN_STATE}
        for name in names:
            if name in reserved or ":" in name:
                raise SagaDefinitionError(f"step {name!r}: the name is reserved or has a ':'")
        self.index = {s.name: i for i, s in enumerate(self.steps)}

    # choices ------------------------------------------------------------------------------------------------
    def _next_step(self, data: Mapping[str, Any], after: int) -> str:
        for step in self.steps[after + 1 :]:
            if step.when is None or step.when(data):
                return step.name
        return COMPLETED_STATE

    def _next_steps_possible(self, after: int) -> list[str]:
        out: list[str] = []
        for step in self.steps[after + 1 :]:
            out.append(step.name)
            if step.when is None:
                return out
        return [*out, COMPLETED_STATE]

    def _next_compensation(
        self,
        instance_steps: Mapping[str, Mapping[str, Any]],
        before: int,
        *,
        from_compensation: bool,
        assume: Mapping[str, str] | None = None,
    ) -> str:
        """The next state after a failure before step index `before` (or after a compensation): the compensation
        of the latest step done (or of unknown outcome), else the end. `assume` overrides step statuses (a guard
        runs before the transition's actions mark the step)."""
        status = {name: str(r.get("status")) for name, r in instance_steps.items()}
        status.update(assume or {})
        for step in reversed(self.steps[:before]):
            if step.compensate is not None and status.get(step.name) in _TO_COMPENSATE:
                return _compensation_state(step.name)
        compensated = from_compensation or "compensated" in status.values()
        return COMPENSATED_STATE if compensated else CANCELLED_STATE

    def _compensations_possible(self, before: int, *, from_compensation: bool) -> list[str]:
        out = [_compensation_state(s.name) for s in reversed(self.steps[:before]) if s.compensate is not None]
        return [*out, COMPENSATED_STATE if from_compensation else CANCELLED_STATE]

    # transitions ----------------------------------------------------------------------------------------------
    def _success_ons(self, step: Step, index: int) -> list[On]:
        return [
            On(
                outcome,
                to=target,
                when=self._guard_next(index, target),
                do=[self._mark(step.name, "done", record=step.record)],
                label=self._when_label(target),
            )
            for outcome in _outcomes(step.succeed_on)
            for target in self._next_steps_possible(index)
        ]

    def _when_label(self, target: str) -> str | None:
        """The diagram's label of a move to `target`: its step's `when_label` (or `if`) when the step is optional."""
        if target in self.index:
            step = self.steps[self.index[target]]
            if step.when is not None:
                return step.when_label or "if"
        return None

    def _guard_next(self, index: int, target: str) -> Callable[[Context], bool]:
        return lambda ctx: self._next_step(ctx.data, index) == target

    def _guard_compensation(
        self, before: int, target: str, *, from_compensation: bool, assume: Mapping[str, str] | None = None
    ) -> Callable[[Context], bool]:
        return lambda ctx: (
            self._next_compensation(ctx.instance.steps, before, from_compensation=from_compensation, assume=assume)
            == target
        )

    def _failure_ons(self, trigger: Event | Timer, step: Step, index: int) -> list[On]:
        """A step that failed: its completed predecessors are compensated in reverse order. When it failed by
        timing out, its outcome is unknown (the service may have acted, and answered too late), so it is
        compensated first, if it has a compensation."""
        outcome = "unknown" if trigger == TIMEOUT else "failed"
        before = index + 1 if outcome == "unknown" else index
        assume = {step.name: outcome}
        return [
            On(
                trigger,
                to=target,
                when=self._guard_compensation(before, target, from_compensation=False, assume=assume),
                do=[self._mark(step.name, outcome)],
                label="timed out" if outcome == "unknown" else "failed",
            )
            for target in self._compensations_possible(before, from_compensation=False)
        ]

    def _mark(self, step: str, status: str, *, record: Callable[[Context], None] | None = None) -> Action:
        def mark(ctx: Context) -> None:
            entry = ctx.instance.steps.setdefault(step, {})
            entry["status"] = status
            entry["ended_ms"] = ctx.now_ms
            if record is not None:
                record(ctx)

        return mark

    def _started(self, step: str) -> Action:
        def started(ctx: Context) -> None:
            entry = ctx.instance.steps.setdefault(step, {"started_ms": ctx.now_ms})
            entry["status"] = "running"
            entry["attempts"] = ctx.attempt

        return started

    def _comp_started(self, step: str) -> Action:
        def started(ctx: Context) -> None:
            entry = ctx.instance.steps.setdefault(step, {})
            entry["status"] = "compensating"
            entry["compensation_attempts"] = ctx.attempt

        return started

    def _retry_ons(self, retry: Retry, triggers: list[Event | Timer]) -> list[On]:
        def can_retry(ctx: Context) -> bool:
            if ctx.attempt >= retry.max_attempts:
                return False
            if retry.window_s is None:
                return True
            first = ctx.instance.entered_ms.get(ctx.state, ctx.now_ms)
            return ctx.now_ms + retry.delay_s(ctx.attempt) * 1000 <= first + retry.window_s * 1000

        def wait_and_retry(ctx: Context) -> None:
            delay = retry.delay_s(ctx.attempt)
            ctx.cancel(TIMEOUT_NAME)
            ctx.schedule(RETRY_TIMER, delay)
            ctx.note(
                f"attempt {ctx.attempt} failed ({ctx.timer or (ctx.event and ctx.event.get('detail-type'))}); "
                f"retrying in {delay:g} s"
            )

        return [On(t, when=can_retry, do=[wait_and_retry], label="retry") for t in triggers]

    def _retried(self, retry: Retry | None) -> tuple[list[Event | Timer], bool]:
        if retry is None:
            return [], False
        return list(_outcomes(retry.on)), TIMEOUT_ON in retry.on

    # states ---------------------------------------------------------------------------------------------------
    def _step_state(self, step: Step, index: int) -> State:
        retried_events, retry_timeout = self._retried(step.retry)
        ons: list[On] = self._success_ons(step, index)
        if step.retry is not None:
            triggers: list[Event | Timer] = [*retried_events, *([TIMEOUT] if retry_timeout and step.timeout_s else [])]
            ons += self._retry_ons(step.retry, triggers)
            ons.append(On(Timer(RETRY_TIMER), to=step.name, label="retry"))
        fail_triggers: list[Event | Timer] = [*_outcomes(step.fail_on), *retried_events]
        if step.timeout_s is not None:
            fail_triggers.append(TIMEOUT)
        for trigger in fail_triggers:
            ons += self._failure_ons(trigger, step, index)
        enter: list[Action] = [self._started(step.name)]
        if step.send is not None:
            enter.append(step.send)
        return State(
            step.name,
            enter=enter,
            on=ons,
            timeout_s=step.timeout_s,
            status=WAITING if step.wait else RUNNING,
            description=step.description,
        )

    def _compensation_states(self, step: Step, index: int) -> list[State]:
        comp = step.compensate
        assert comp is not None
        name = _compensation_state(step.name)
        done = self._mark(step.name, "compensated")
        enter: list[Action] = [self._comp_started(step.name), comp.send]
        ons: list[On] = []
        successes: list[Event | Timer] = list(_outcomes(comp.succeed_on))
        if not successes:
            ons += [
                On(ALWAYS, to=target, when=self._guard_compensation(index, target, from_compensation=True), do=[done])
                for target in self._compensations_possible(index, from_compensation=True)
            ]
            return [State(name, enter=enter, on=ons, status=COMPENSATING, group="compensation")]
        for trigger in successes:
            ons += [
                On(
                    trigger,
                    to=target,
                    when=self._guard_compensation(index, target, from_compensation=True),
                    do=[done],
                    label="compensated",
                )
                for target in self._compensations_possible(index, from_compensation=True)
            ]
        failures: list[Event | Timer] = list(_outcomes(comp.fail_on))
        if comp.timeout_s is not None:
            failures.append(TIMEOUT)
        if comp.retry is not None:
            ons += self._retry_ons(comp.retry, failures)
            ons.append(On(Timer(RETRY_TIMER), to=name, label="retry"))
        parked = _parked_state(step.name)
        ons += [On(t, to=parked, do=[self._mark(step.name, "parked")], label="gave up") for t in failures]
        return [
            State(name, enter=enter, on=ons, timeout_s=comp.timeout_s, status=COMPENSATING, group="compensation"),
            State(
                parked,
                enter=list(self.saga.on_parked),
                on=[On(RESUME, to=name, label="operator")],
                status=PARKED,
                group="compensation",
                description=f"the compensation of {step.name} kept failing: resume it once the cause is fixed",
            ),
        ]

    def compile(self) -> Definition:
        saga = self.saga
        states: list[State] = []
        for index, step in enumerate(self.steps):
            states.append(self._step_state(step, index))
        for index, step in enumerate(self.steps):
            if step.compensate is not None:
                states += self._compensation_states(step, index)
        states += [
            Final(COMPLETED_STATE, COMPLETED, enter=list(saga.on_completed)),
            Final(COMPENSATED_STATE, COMPENSATED, enter=list(saga.on_compensated)),
            Final(CANCELLED_STATE, CANCELLED, enter=list(saga.on_cancelled)),
        ]
        init: list[Action] = [saga.init] if saga.init is not None else []
        first = self.steps[0]
        if first.when is None:
            start = [On(saga.start, to=first.name, do=init)]
        else:  # a choice after init has filled the data: the `begin` state takes one of its ALWAYS transitions
            start = [On(saga.start, to=BEGIN_STATE, do=init)]
            states.append(
                State(
                    BEGIN_STATE,
                    on=[
                        On(ALWAYS, to=target, when=self._guard_next(-1, target), label=self._when_label(target))
                        for target in self._next_steps_possible(-1)
                    ],
                )
            )
        machine = StateMachine(
            name=saga.name,
            queue=saga.queue,
            correlate=saga.correlate,
            start=start,
            states=states,
            bus=saga.bus,
            source=saga.source,
            shards=saga.shards,
            description=saga.description,
        )
        steps_info = [
            {"name": s.name, "compensated": s.compensate is not None, "wait": s.wait, "conditional": s.when is not None}
            for s in self.steps
        ]
        return _compile(machine, kind="steps", extra={"steps": steps_info, **dict(saga.extra)})
