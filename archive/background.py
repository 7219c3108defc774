"""The archive package's background work in every router process: the maintenance loop (retention trim, the
sweep of deleted archives' storage, the archives' compression dictionaries) and the replay runner.

Started by the extension's start-up hook (`archive.extension`) once the router's own hooks ran, stopped by its
shut-down hook. Every step is an atomic, idempotent script, so any number of processes may run it side by side;
the replay runner claims each replay with a lease (`archive.replays`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from archive.dictionaries import DICTIONARIES
from archive.runner import ReplayRunner
from archive.store import archive_store
from router.state import AppState

__all__ = ["ArchiveOptions", "Background"]

log = logging.getLogger("switchboard.archive")


@dataclass(frozen=True, slots=True)
class ArchiveOptions:
    """Tunables of the background work (tests shorten them)."""

    maintenance_interval_s: float = 60.0
    """How often a process trims expired events and sweeps deleted archives' storage."""
    replay_poll_interval_s: float = 1.0
    """How often a process looks for active replays that no process runs."""
    replay_lease_ms: int = 10_000
    """A replay whose runner has not renewed its lease for this long is resumed by another process (kill -9)."""
    replay_page_events: int = 500
    """Events appended per page (one script: the page and the checkpoint move together)."""
    replay_backlog_limit_events: int = 100_000
    """A replay waits while more of its destination's events than this wait for the ingest worker."""
    dictionary_min_events: int = 1000
    """An archive gets its compression dictionary once it holds this many events (0: never; archive.dictionaries)."""
    dictionary_samples: int = 1000
    """The newest events a dictionary is trained on."""
    dictionary_bytes: int = 16_384
    """The size of a trained dictionary."""


class Background:
    """The background tasks of one process."""

    def __init__(self, state: AppState, options: ArchiveOptions) -> None:
        self.state = state
        self.options = options
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.runner = ReplayRunner(
            state,
            lease_ms=options.replay_lease_ms,
            page_events=options.replay_page_events,
            poll_interval_s=options.replay_poll_interval_s,
            backlog_limit_events=options.replay_backlog_limit_events,
        )

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._every(self.options.maintenance_interval_s, self.maintain)))
        self._tasks.append(asyncio.create_task(self._every(self.options.replay_poll_interval_s, self.runner.poll)))

    async def stop(self) -> None:
        """Stop the loops. Cancelling alone is not enough: a cancellation that lands inside a redis-py call can
        surface as a Redis error, which a loop treats as a failed round; so the loops also check `_stopping`."""
        self._stopping.set()
        await self.runner.stop()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        self._tasks.clear()

    async def maintain(self) -> None:
        """One maintenance round: apply retention, sweep deleted archives' storage once their grace is over, and
        train or refresh the archives' compression dictionaries."""
        store = archive_store(self.state)
        trimmed = await store.trim_expired()
        if trimmed:
            log.info("archives: %d expired events removed", trimmed)
        await store.sweep_tombstones()
        for record in await store.all():
            trained = await DICTIONARIES.maintain(
                self.state.redis,
                store.events_key(record),
                store.dicts_key(record),
                min_events=self.options.dictionary_min_events,
                samples=self.options.dictionary_samples,
                dictionary_bytes=self.options.dictionary_bytes,
            )
            if trained:
                log.info("archive %s: compression dictionary trained", record["ArchiveName"])

    async def _every(self, interval_s: float, step: Callable[[], Awaitable[None]]) -> None:
        while not self._stopping.is_set():
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a failed round is retried next time; it never stops the loop
                if self._stopping.is_set():
                    return
                log.warning("archive %s failed: %s", step.__name__, err)
            await asyncio.sleep(interval_s)
