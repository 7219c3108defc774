"""`GET /health` (router.health): one PING on a single Redis; on a Redis Cluster a PING to every master, each named
by its slot ranges, so a master that is down is named (and never by its address)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from router.app import create_app
from router.health import slot_ranges
from router.settings import Settings
from tests.conftest import RedisClusterNodes

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def _client(url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(redis_url=url, data_dir=tmp_path), ingest=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            yield client


def _pings(port: int) -> int:
    client = redis.Redis(port=port)
    try:
        stats: Any = client.info("commandstats")
    finally:
        client.close()
    return int(stats.get("cmdstat_ping", {}).get("calls", 0))


def _slots_by_port(port: int) -> dict[int, str]:
    """Each master's slot ranges as /health writes them, from CLUSTER SLOTS asked of the node at `port`."""
    client = redis.Redis(port=port)
    try:
        replies: Any = client.execute_command("CLUSTER SLOTS")
    finally:
        client.close()
    found: dict[int, list[tuple[int, int]]] = {}
    for low, high, master, *_ in replies:
        found.setdefault(int(master[1]), []).append((int(low), int(high)))
    return {port: ",".join(f"{low}-{high}" for low, high in sorted(ranges)) for port, ranges in found.items()}


async def test_health_pings_the_redis_and_on_a_cluster_every_master(
    redis_url: str, redis_kind: str, tmp_path: Path
) -> None:
    async with _client(redis_url, tmp_path) as client:
        if redis_kind == "single":
            response = await client.get("/health")
            assert (response.status_code, orjson.loads(response.content)) == (200, {"status": "ok"})
            return
        port = int(redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
        slots = _slots_by_port(port)
        assert len(slots) == 3
        before = {master: _pings(master) for master in slots}
        response = await client.get("/health")
        after = {master: _pings(master) for master in slots}
        assert response.status_code == 200, response.text
        body = orjson.loads(response.content)
        expected = sorted(slots.values(), key=lambda ranges: int(ranges.split("-")[0]))
        assert body == {"status": "ok", "masters": [{"slots": s, "redis": "ok"} for s in expected]}
        assert all(after[master] > before[master] for master in slots), (before, after)  # each one asked
        for master in slots:
            assert str(master) not in response.text


async def test_a_master_that_is_down_is_named_by_its_slots_and_the_others_are_ok(tmp_path: Path) -> None:
    (tmp_path / "cluster").mkdir()
    cluster = RedisClusterNodes(tmp_path / "cluster")
    try:
        slots = _slots_by_port(cluster.ports[0])
        down = cluster.ports[1]
        async with _client(cluster.url, tmp_path) as client:
            assert (await client.get("/health")).status_code == 200
            cluster.procs[down].terminate()
            cluster.procs[down].wait(timeout=10)
            response = await client.get("/health")
            assert response.status_code == 503, response.text
            body = orjson.loads(response.content)
            expected = [
                {"slots": ranges, "redis": "unreachable" if port == down else "ok"}
                for port, ranges in sorted(slots.items(), key=lambda item: int(item[1].split("-")[0]))
            ]
            assert body == {"status": "unavailable", "redis": "unreachable", "masters": expected}
            assert not any(str(port) in response.text for port in cluster.ports)
            assert "127.0.0.1" not in response.text
    finally:
        cluster.stop()


def test_slot_ranges_join_runs_and_keep_gaps() -> None:
    class Node:
        def __init__(self, name: str) -> None:
            self.name = name

    a, b = Node("a"), Node("b")
    cache: Any = {**{slot: [a] for slot in range(10)}, **{slot: [b] for slot in range(10, 20)}}
    cache.update({slot: [a] for slot in range(30, 16384)})  # 20-29 are not covered
    assert slot_ranges(cache) == {"a": [(0, 9), (30, 16383)], "b": [(10, 19)]}
