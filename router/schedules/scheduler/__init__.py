"""EventBridge Scheduler (the `scheduler` service, restJson1) on the router's one port.

`protocol` reads requests by botocore's model, `operations` serves schedules, schedule groups and tags, `store`
keeps them in Redis, and `firing` turns every tick into a durable delivery job (router.delivery) through the shared
timers (router.timers). `service()` is what router.app mounts; `install(state)` registers the timer handler;
`on_startup(state)` makes sure every schedule has its timer (the `default` group is stored on first use). See
docs/schedules.md.
"""

from __future__ import annotations

from router.schedules.scheduler import firing, operations, protocol
from router.services import Service as _Service
from router.state import AppState as _AppState

__all__ = ["install", "on_startup", "service"]


def service() -> _Service:
    return _Service(
        "scheduler",
        "Amazon EventBridge Scheduler",
        protocol.SchedulerApp(operations.OPERATIONS),
        signing_names=("scheduler",),
        paths=protocol.PATHS,
    )


def install(state: _AppState) -> None:
    firing.install(state, operations.store_of(state))


async def on_startup(state: _AppState) -> None:
    runner = state.extras["timer_runner"]
    await firing.reconcile(state, operations.store_of(state), None, await runner.clock.now_ms())
