"""`switchboard serve --workers 2`: two router processes on one port share the work; a killed one is started again
and nothing accepted is lost; SIGTERM stops them all (issue 9)."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from router.keys import INGEST_GROUP, Keys
from tests.conftest import sync_client
from tests.router._serve import ServeProcess, rule_count
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

KEYS = Keys()
PATTERN = orjson.dumps({"source": ["workers.test"]}).decode()


def _router_pids(client: Any) -> set[int]:
    """The pids of router processes with a command connection to Redis (their client name says it)."""
    if hasattr(client, "get_primaries"):
        replies: Any = client.client_list(target_nodes=client.get_primaries())
        listed = [c for clients in replies.values() for c in clients]
    else:
        listed = client.client_list()
    pids = set()
    for c in listed:
        name = str(c.get("name", ""))
        if name.startswith("switchboard:") and name.endswith(":commands"):
            pids.add(int(name.split(":")[1]))
    return pids


def _two_pids(client: Any, without: int | None = None) -> set[int] | None:
    pids = _router_pids(client)
    return pids if len(pids) == 2 and without not in pids else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _send(router: ServeProcess, batches: int, tag: str) -> list[str]:
    accepted: list[str] = []
    with httpx.Client(timeout=10) as client:  # one keep-alive connection: it stays with one worker
        for batch in range(batches):
            entries = [
                {"Source": "workers.test", "DetailType": "t", "Detail": f'{{"{tag}": [{batch}, {i}]}}'}
                for i in range(10)
            ]
            result = router.put_events(client, entries)
            accepted += [e["EventId"] for e in result["Entries"] if "EventId" in e]
    return accepted


def test_two_workers_serve_one_port_and_survive_a_killed_worker(tmp_path: Path, redis_url: str) -> None:
    redis = sync_client(redis_url)
    router = ServeProcess(tmp_path, redis_url, "--workers", "2", "--log-level", "info")
    try:
        router.wait_ready()
        with httpx.Client(timeout=10) as client:
            response = router.call(client, "PutRule", {"Name": "all", "EventPattern": PATTERN})
            assert response.status_code == 200, response.text
        pids = eventually_sync(lambda: _two_pids(redis), what="two workers")
        assert router.proc.pid not in pids  # the parent only supervises

        with ThreadPoolExecutor(8) as pool:  # eight connections: the kernel spreads them over the two workers
            accepted = [i for ids in pool.map(lambda n: _send(router, 20, f"c{n}"), range(8)) for i in ids]
        assert len(accepted) == 1600
        consumers: Any = redis.xinfo_consumers(KEYS.ingest("default"), INGEST_GROUP)
        assert {int(c["name"].decode().split(":")[1]) for c in consumers} == pids  # both ingested some

        # Kill one worker: the parent starts another; events it held are taken over; nothing accepted is lost.
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        more = _send(router, 20, "after")
        replaced = eventually_sync(lambda: _two_pids(redis, victim), timeout_s=30, what="the killed worker replaced")
        assert victim not in replaced
        total = len(accepted) + len(more)
        eventually_sync(lambda: rule_count(router.metrics(), "default", "all") == total, timeout_s=40, what="all")
    finally:
        code = router.stop()
    assert code == 0, router.log()
    eventually_sync(lambda: not any(_alive(pid) for pid in pids | replaced), what="every worker gone")
