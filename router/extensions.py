"""Extensions: how the top-level packages (`archive/`, `schemas/`, `sagas/`) plug into the router without it
importing them.

The router is the service; features such as archives or the schema registry live in their own packages on top of
it. `router` never imports those packages by name. Instead each one declares an `Extension` and registers a factory
for it under the `switchboard.extensions` entry-point group in `pyproject.toml`:

    [project.entry-points."switchboard.extensions"]
    schemas = "schemas.extension:extension"

`router.app.create_app` loads every installed extension (or the explicit list a test passes) and wires what each
declares:

- `operations`: handlers for operations of the `events` API (AWS JSON 1.1, e.g. CreateArchive), added to the
  dispatcher beside router/api's. An operation registered twice is a start-up error, never a silent override.
- `services`: `router.services.Service` objects (an ASGI app and what recognises its requests: X-Amz-Target
  prefixes, SigV4 signing names, path prefixes), mounted on the one port's service registry beside `events`, so
  the API's requests signed for it reach it and everything else still gets the not-served errors
  (docs/services.md). REST APIs such as the Schemas API plug in here.
- `routes`: starlette routes mounted on the one port before the router's own (pages under `/ui/`).
- `startup` / `shutdown`: hooks awaited with the process's `AppState` after the router's own start-up hooks and
  before its workers start (shut-down runs in reverse); extensions keep their services in `state.extras`.

An extension is a frozen value: loading one has no side effects beyond importing its module.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from starlette.routing import BaseRoute

from router.protocol import Handler
from router.services import Service
from router.state import AppState

__all__ = ["ENTRY_POINT_GROUP", "Extension", "ExtensionError", "Hook", "installed", "merge_operations"]

ENTRY_POINT_GROUP = "switchboard.extensions"

Hook = Callable[[AppState], Awaitable[None]]
"""A start-up or shut-down hook."""


class ExtensionError(Exception):
    """An extension cannot be loaded or clashes with another one (a start-up error)."""


@dataclass(frozen=True, slots=True)
class Extension:
    name: str
    operations: Mapping[str, Handler] = field(default_factory=dict)
    """`events` API operation name -> handler (same contract as router/api's OPERATIONS)."""
    services: Sequence[Service] = ()
    routes: Sequence[BaseRoute] = ()
    startup: Sequence[Hook] = ()
    shutdown: Sequence[Hook] = ()


def installed(entry_points: Callable[[], Iterable[importlib.metadata.EntryPoint]] | None = None) -> list[Extension]:
    """Every extension registered under `switchboard.extensions`, in entry-point name order."""
    found = entry_points() if entry_points is not None else importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    extensions: list[Extension] = []
    for entry in sorted(found, key=lambda e: e.name):
        try:
            factory = entry.load()
            extension = factory()
        except Exception as err:
            raise ExtensionError(f"extension {entry.name} ({entry.value}) could not be loaded: {err}") from err
        if not isinstance(extension, Extension):
            raise ExtensionError(f"extension {entry.name} ({entry.value}) did not return an Extension")
        extensions.append(extension)
    return extensions


def merge_operations(base: Mapping[str, Handler], extensions: Sequence[Extension]) -> dict[str, Handler]:
    """The router's handlers plus every extension's; an operation served twice is an `ExtensionError`."""
    merged = dict(base)
    owner = dict.fromkeys(base, "router")
    for extension in extensions:
        for name, handler in extension.operations.items():
            if name in merged:
                raise ExtensionError(f"operation {name} is served by both {owner[name]} and {extension.name}")
            merged[name] = handler
            owner[name] = extension.name
    return merged
