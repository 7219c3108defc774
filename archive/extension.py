"""Archives and replays as a router extension (`router.extensions`).

Registered in pyproject.toml under the `switchboard.extensions` entry-point group, so `router.app.create_app` wires
it without importing this package by name: the archive and replay operations of the `events` API, the `archive`
internal target kind (the managed rule's target, `archive.target`), and the start-up and shut-down hooks of the
background work (`archive.background`), and the `switchboard archive` and `switchboard replay` commands
(`archive.cli`).
"""

from __future__ import annotations

from archive.api import OPERATIONS as ARCHIVE_OPERATIONS
from archive.background import ArchiveOptions, Background
from archive.cli import COMMANDS
from archive.replay_api import OPERATIONS as REPLAY_OPERATIONS
from archive.target import ARCHIVE_TARGET, KIND
from router.extensions import Extension
from router.state import AppState

__all__ = ["extension"]

_EXTRAS_KEY = "archive_background"


def extension(options: ArchiveOptions | None = None) -> Extension:
    """The extension; `options` tune the background work (the entry point uses the defaults)."""
    chosen = options or ArchiveOptions()

    async def start(state: AppState) -> None:
        background = Background(state, chosen)
        state.extras[_EXTRAS_KEY] = background
        background.start()

    async def stop(state: AppState) -> None:
        background: Background | None = state.extras.pop(_EXTRAS_KEY, None)
        if background is not None:
            await background.stop()

    return Extension(
        name="archive",
        operations={**ARCHIVE_OPERATIONS, **REPLAY_OPERATIONS},
        internal_targets={KIND: ARCHIVE_TARGET},
        cli=COMMANDS,
        startup=[start],
        shutdown=[stop],
    )
