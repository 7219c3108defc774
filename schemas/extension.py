"""The schema registry as a router extension (`router.extensions`): its REST routes and its start-up hook.

Registered in pyproject.toml under the `switchboard.extensions` entry-point group, so `router.app.create_app`
mounts it without importing this package by name.
"""

from __future__ import annotations

from router.extensions import Extension
from router.state import AppState
from schemas.api import OPERATIONS, SchemasRoute
from schemas.services import store

__all__ = ["extension"]


async def _start(state: AppState) -> None:
    await store(state).ensure_builtin()


def extension() -> Extension:
    return Extension(name="schemas", routes=[SchemasRoute(OPERATIONS)], startup=[_start])
