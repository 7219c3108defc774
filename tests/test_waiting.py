"""Unit tests of the shared waiting helpers: they return the predicate's value, or fail (never hang) at a deadline."""

from __future__ import annotations

import time

import pytest

from tests.waiting import eventually, eventually_sync


async def test_eventually_returns_the_first_truthy_value_of_a_sync_or_async_predicate() -> None:
    values = iter([0, None, "done"])
    assert await eventually(lambda: next(values), 1.0, interval_s=0.001) == "done"

    async def ready() -> int:
        return 7

    assert await eventually(ready, 1.0) == 7


async def test_eventually_fails_at_the_deadline_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"timed out after 0.05 s waiting for the thing \(last value: False\)"):
        await eventually(lambda: False, 0.05, interval_s=0.01, what="the thing")
    assert time.monotonic() - started < 1.0


def test_eventually_sync_returns_the_value_or_fails_at_the_deadline() -> None:
    calls = iter([False, [1]])
    assert eventually_sync(lambda: next(calls), 1.0, interval_s=0.001) == [1]
    with pytest.raises(AssertionError, match="waiting for nothing"):
        eventually_sync(lambda: 0, 0.02, interval_s=0.005, what="nothing")
