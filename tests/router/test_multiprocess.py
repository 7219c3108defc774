"""Several `switchboard serve` processes on one Redis: they share the ingest work with no event counted twice or
lost, and a rule change made through one process is in force in the other within a second."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import orjson
import pytest

from tests.router._serve import ServeProcess, bus_count, rule_count, serving
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

PATTERN = orjson.dumps({"source": ["multi.test"]}).decode()
EVENT = {"Source": "multi.test", "DetailType": "t", "Detail": '{"n": 1}'}
SETTLED = ("switchboard_process_settled_events_total", ())


@pytest.fixture
def two_routers(tmp_path: Path, redis_url: str) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    with serving(tmp_path, redis_url) as (first, second):
        yield first, second


def test_two_processes_share_the_work_and_count_each_event_once(
    two_routers: tuple[ServeProcess, ServeProcess],
) -> None:
    first, second = two_routers
    with httpx.Client(timeout=10) as client:
        assert first.call(client, "PutRule", {"Name": "all", "EventPattern": PATTERN}).status_code == 200
        sent = 0
        for batch in range(100):
            target = first if batch % 2 else second
            result = target.put_events(client, [EVENT] * 10)
            assert result["FailedEntryCount"] == 0
            sent += 10
            if batch % 10 == 0:  # let both consumers catch up and block on the stream now and then
                eventually_sync(partial(_ingested_is, first, sent), what=f"{sent} events ingested")

    # Nothing pending or unread: no event can be processed (or counted) again, so the counts are final.
    eventually_sync(lambda: _backlog(first) == 0 and _ingested(first) == sent, timeout_s=20, what="all settled")
    eventually_sync(lambda: first.metrics()[SETTLED] + second.metrics()[SETTLED] >= sent, what="settled counts")
    metrics_a, metrics_b = first.metrics(), second.metrics()
    assert rule_count(metrics_a, "default", "all") == sent
    assert rule_count(metrics_b, "default", "all") == sent  # the same Redis-backed counter, read by either process
    assert bus_count(metrics_a, "switchboard_ingested_events_total", "default") == sent
    settled_a, settled_b = metrics_a[SETTLED], metrics_b[SETTLED]
    assert settled_a + settled_b == sent
    assert settled_a > 0
    assert settled_b > 0


def test_a_rule_change_through_one_process_is_in_force_in_the_other_within_a_second(
    two_routers: tuple[ServeProcess, ServeProcess],
) -> None:
    """Both processes consume the bus and the counters are shared, so a stale matcher in either one would show: after
    each change, single probe events go through until each process has settled one under the new rule state, and
    any probe sent more than a second after the change must already see it."""
    routers = two_routers
    first, second = routers
    with httpx.Client(timeout=10) as client:
        changed_at = time.monotonic()
        assert first.call(client, "PutRule", {"Name": "flip", "EventPattern": PATTERN}).status_code == 200
        _in_force_in_both(client, routers, matches=True, changed_at=changed_at)

        changed_at = time.monotonic()
        assert first.call(client, "DisableRule", {"Name": "flip"}).status_code == 200
        _in_force_in_both(client, routers, matches=False, changed_at=changed_at)

        changed_at = time.monotonic()
        assert second.call(client, "EnableRule", {"Name": "flip"}).status_code == 200
        _in_force_in_both(client, routers, matches=True, changed_at=changed_at)

        # In force from now on, whichever process receives or matches the events.
        before_ingested, before_flip = _ingested(first), rule_count(first.metrics(), "default", "flip")
        first.put_events(client, [EVENT] * 10)
        second.put_events(client, [EVENT] * 10)
        eventually_sync(lambda: _ingested(first) == before_ingested + 20 and _backlog(first) == 0, what="settled")
        assert rule_count(second.metrics(), "default", "flip") == before_flip + 20


def _ingested(router: ServeProcess) -> float:
    return bus_count(router.metrics(), "switchboard_ingested_events_total", "default")


def _ingested_is(router: ServeProcess, n: int) -> bool:
    return _ingested(router) == n


def _backlog(router: ServeProcess) -> float:
    return bus_count(router.metrics(), "switchboard_ingest_backlog_events", "default")


def _probe(client: httpx.Client, routers: tuple[ServeProcess, ServeProcess], via: int) -> tuple[int, bool]:
    """Send one event through `routers[via]`, wait until it is settled; (which process settled it, whether it
    triggered the rule `flip`)."""
    before = [router.metrics() for router in routers]
    ingested = bus_count(before[0], "switchboard_ingested_events_total", "default")
    assert routers[via].put_events(client, [EVENT])["FailedEntryCount"] == 0

    def settled() -> list[dict[tuple[str, tuple[tuple[str, str], ...]], float]] | None:
        now = [router.metrics() for router in routers]
        done = sum(m[SETTLED] for m in now) == sum(m[SETTLED] for m in before) + 1
        done = done and bus_count(now[0], "switchboard_ingested_events_total", "default") == ingested + 1
        return now if done else None

    after = eventually_sync(settled, what="the probe event settled")
    (who,) = [i for i in (0, 1) if after[i][SETTLED] > before[i][SETTLED]]
    triggered = rule_count(after[0], "default", "flip") - rule_count(before[0], "default", "flip")
    assert triggered in (0, 1)
    return who, triggered == 1


def _in_force_in_both(
    client: httpx.Client, routers: tuple[ServeProcess, ServeProcess], *, matches: bool, changed_at: float
) -> None:
    fresh: set[int] = set()
    deadline = changed_at + 15
    probes = 0
    while fresh != {0, 1}:
        assert time.monotonic() < deadline, f"after {probes} probes, only processes {fresh} saw the change"
        sent_at = time.monotonic()
        who, triggered = _probe(client, routers, via=probes % 2)
        probes += 1
        if triggered == matches:
            fresh.add(who)
        else:
            assert who not in fresh, "a process went back to the old rule state"
            assert sent_at - changed_at <= 1.0, f"process {who} still used the old rule state after a second"
