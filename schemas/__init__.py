"""The schema registry: the Schemas REST API (restJson1) on the router's port, registries and versions in Redis.

This package sits on top of `router/` and plugs in through `router.extensions` (see `schemas.extension`); the
router never imports it. Layout: `schemas.keys` (every Redis key), `schemas.store` (registries, schemas, versions,
policies), `schemas.content` (document checks, ExportSchema), `schemas.api` (the wire layer and the handlers).
"""

from __future__ import annotations

from schemas.extension import extension
from schemas.keys import SchemaKeys
from schemas.store import AWS_EVENTS, DISCOVERED, RegistryStore

__all__ = ["AWS_EVENTS", "DISCOVERED", "RegistryStore", "SchemaKeys", "extension"]
