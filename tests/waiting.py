"""Waiting on conditions with deadlines: the one way tests wait (never a fixed sleep).

`eventually(predicate)` polls until the predicate holds and fails the test with `AssertionError` when the deadline
passes, naming what it waited for and the predicate's last value. The predicate may be a plain function or an
async one; `eventually_sync` is the twin for tests without an event loop (child processes, threads).

"Nothing more happens" is never proven by waiting: a test proves it with something observable, e.g. a marker that
passed through the same path later, or the Redis state that shows no work is left (no job, no retry, nothing
pending).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["eventually", "eventually_sync"]

DEFAULT_TIMEOUT_S = 10.0


async def eventually(
    predicate: Callable[[], Awaitable[Any] | Any],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    interval_s: float = 0.02,
    what: str = "condition",
) -> Any:
    """Await until `predicate()` is truthy and return its value; fail once `timeout_s` has passed."""
    deadline = _Deadline(timeout_s, what)
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value or deadline.check(value):
            return value
        await asyncio.sleep(interval_s)


def eventually_sync(
    predicate: Callable[[], Any],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    interval_s: float = 0.02,
    what: str = "condition",
) -> Any:
    """Block until `predicate()` is truthy and return its value; fail once `timeout_s` has passed."""
    deadline = _Deadline(timeout_s, what)
    while not ((value := predicate()) or deadline.check(value)):
        time.sleep(interval_s)
    return value


class _Deadline:
    def __init__(self, timeout_s: float, what: str) -> None:
        self.timeout_s, self.what = timeout_s, what
        self.at = time.monotonic() + timeout_s

    def check(self, last: Any) -> bool:
        """False while there is time left; raises once the deadline has passed."""
        if time.monotonic() >= self.at:
            raise AssertionError(f"timed out after {self.timeout_s} s waiting for {self.what} (last value: {last!r})")
        return False
