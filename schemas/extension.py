"""The schema registry as a router extension (`router.extensions`): its REST routes.

Registered in pyproject.toml under the `switchboard.extensions` entry-point group, so `router.app.create_app`
mounts it without importing this package by name. Starting it writes nothing to Redis (the built-in registries are
stored on first write, `schemas.store`).
"""

from __future__ import annotations

from router.extensions import Extension
from schemas.api import OPERATIONS, SchemasRoute

__all__ = ["extension"]


def extension() -> Extension:
    return Extension(name="schemas", routes=[SchemasRoute(OPERATIONS)])
