"""The schema registry as a router extension (`router.extensions`): the Schemas API as a `router.services.Service`.

Registered in pyproject.toml under the `switchboard.extensions` entry-point group, so `router.app.create_app`
mounts it without importing this package by name. Requests signed for `schemas` (botocore's signing name) and
unsigned requests under the Schemas paths reach `schemas.api`; the browse pages (`schemas.ui`) are routes under
`/ui/schemas` with a navigation entry; the internal target kind `schemas-discovery` feeds the discovery worker,
which start-up starts (`schemas.discovery`); the entry check validates PutEvents entries on buses tagged to
(`schemas.validation`). Starting it writes nothing to Redis (the built-in registries are
stored on first write, `schemas.store`).
"""

from __future__ import annotations

from collections.abc import Mapping

from router.extensions import Extension
from router.services import Service
from router.state import AppState
from schemas import ui
from schemas.api import OPERATIONS, PATHS, Handler, SchemasApp
from schemas.discovery import TARGET_KIND, DiscoveryTarget, DiscoveryWorker
from schemas.validation import bus_check

__all__ = ["TITLE", "extension", "service"]

TITLE = "Amazon EventBridge Schemas"


def service(handlers: Mapping[str, Handler] = OPERATIONS) -> Service:
    return Service("schemas", TITLE, SchemasApp(handlers), signing_names=("schemas",), paths=PATHS)


_WORKER = "schemas.discovery"


async def _start(state: AppState) -> None:
    worker = state.extras[_WORKER] = DiscoveryWorker(state)
    await worker.start()


async def _stop(state: AppState) -> None:
    worker = state.extras.pop(_WORKER, None)
    if worker is not None:
        await worker.stop()
    bindings = state.extras.get("schemas.bindings")
    if bindings is not None:
        await bindings.close()


def extension() -> Extension:
    return Extension(
        name="schemas",
        services=[service()],
        routes=ui.routes(),
        ui_links=[ui.LINK],
        internal_targets={TARGET_KIND: DiscoveryTarget()},
        entry_checks=[bus_check],
        startup=[_start],
        shutdown=[_stop],
    )
