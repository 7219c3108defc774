"""Operation handlers, one module per concept (buses, rules, targets, tags, put_events, ...).

Each module in this package exposes `OPERATIONS: dict[str, Handler]`, mapping EventBridge operation names to
async handlers. `discover()` collects them, so adding an operation never means editing a central table.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from types import ModuleType

from router.protocol import Handler
from router.state import AppState

__all__ = ["Hook", "discover", "discover_hooks", "discover_namespace_hooks"]

Hook = Callable[[AppState], Awaitable[None]]
"""A start-up or shut-down hook: modules here may define `async def on_startup(state)` / `on_shutdown(state)`."""


def _modules() -> list[ModuleType]:
    infos = sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
    return [importlib.import_module(f"{__name__}.{i.name}") for i in infos if not i.name.startswith("_")]


def discover_hooks() -> tuple[list[Hook], list[Hook]]:
    """The `on_startup` and `on_shutdown` hooks of every handler module, in module-name order."""
    modules = _modules()
    startup = [m.on_startup for m in modules if hasattr(m, "on_startup")]
    shutdown = [m.on_shutdown for m in modules if hasattr(m, "on_shutdown")]
    return startup, shutdown


def discover_namespace_hooks() -> list[Hook]:
    """The `on_namespace` hooks of every handler module: run before a process's first operation in a namespace
    other than the home one (router.protocol `Dispatcher.namespace_hooks`), with that namespace entered."""
    return [m.on_namespace for m in _modules() if hasattr(m, "on_namespace")]


def discover() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for module in _modules():
        for name, handler in getattr(module, "OPERATIONS", {}).items():
            if name in handlers:
                raise RuntimeError(f"operation {name} is registered twice (again in {module.__name__})")
            handlers[name] = handler
    return handlers
