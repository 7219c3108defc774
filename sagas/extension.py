"""The sagas as a router extension (`router.extensions`): the `switchboard saga` and `switchboard demo` commands,
the `/ui/sagas` pages and the saga metrics on `/metrics`.

Registered in pyproject.toml under the `switchboard.extensions` entry-point group, so the router serves the pages
and the metrics of every saga type a runtime registered without importing any saga's code, and without running
one: sagas run in their own processes (sagas.runtime). Starting it writes nothing to Redis.
"""

from __future__ import annotations

from router.extensions import Extension
from sagas import ui
from sagas.cli import COMMANDS
from sagas.metrics import saga_metrics

__all__ = ["extension"]


def extension() -> Extension:
    return Extension(name="sagas", routes=ui.routes(), ui_links=[ui.LINK], cli=COMMANDS, metrics=[saga_metrics])
