"""The schema registry as a router extension (`router.extensions`): the Schemas API as a `router.services.Service`.

Registered in pyproject.toml under the `switchboard.extensions` entry-point group, so `router.app.create_app`
mounts it without importing this package by name. Requests signed for `schemas` (botocore's signing name) and
unsigned requests under the Schemas paths reach `schemas.api`. Starting it writes nothing to Redis (the built-in
registries are stored on first write, `schemas.store`).
"""

from __future__ import annotations

from collections.abc import Mapping

from router.extensions import Extension
from router.services import Service
from schemas.api import OPERATIONS, PATHS, Handler, SchemasApp

__all__ = ["TITLE", "extension", "service"]

TITLE = "Amazon EventBridge Schemas"


def service(handlers: Mapping[str, Handler] = OPERATIONS) -> Service:
    return Service("schemas", TITLE, SchemasApp(handlers), signing_names=("schemas",), paths=PATHS)


def extension() -> Extension:
    return Extension(name="schemas", services=[service()])
