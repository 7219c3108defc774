"""Sagas: durable orchestrators driven by the bus (issue 14).

A saga consumes a queue target (a Redis stream, read with a consumer group) and acts through the bus. Declare one as
steps (`Saga`, `Step`: an action, its outcome events, retries with backoff, a timeout, a compensation) or as an
explicit state machine (`StateMachine`, `State`, `On`); run it with `SagaRuntime`. Each transition commits in one
Redis script with its outgoing messages (an outbox in the instance's own hash slot), which are dispatched after the
commit; timers are the router's durable timers; every input is remembered by its event id and delivery id, so a
duplicate or a replay never runs a side effect twice. docs/sagas.md is the guide.
"""

from sagas.context import Context
from sagas.engine import Decision, Input, decide
from sagas.errors import DispatchError, SagaDefinitionError, SagaError
from sagas.instance import (
    CANCELLED,
    COMPENSATED,
    COMPENSATING,
    COMPLETED,
    FAILED,
    PARKED,
    RUNNING,
    WAITING,
    Instance,
)
from sagas.machine import (
    ALWAYS,
    RESUME,
    TIMEOUT,
    Assign,
    Cancel,
    Control,
    Definition,
    Event,
    Final,
    On,
    Publish,
    Schedule,
    Send,
    State,
    StateMachine,
    Timer,
)
from sagas.steps import TIMEOUT_ON, Compensation, Retry, Saga, Step

__all__ = [
    "ALWAYS",
    "CANCELLED",
    "COMPENSATED",
    "COMPENSATING",
    "COMPLETED",
    "FAILED",
    "PARKED",
    "RESUME",
    "RUNNING",
    "TIMEOUT",
    "TIMEOUT_ON",
    "WAITING",
    "Assign",
    "Cancel",
    "Compensation",
    "Context",
    "Control",
    "Decision",
    "Definition",
    "DispatchError",
    "Event",
    "Final",
    "Input",
    "Instance",
    "On",
    "Publish",
    "Retry",
    "Saga",
    "SagaDefinitionError",
    "SagaError",
    "Schedule",
    "Send",
    "State",
    "StateMachine",
    "Step",
    "Timer",
    "decide",
]
