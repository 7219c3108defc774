"""`GET /health`: whether this router can reach all of its Redis, and on a Redis Cluster which master is down.

On a single Redis the answer is one PING: 200 `{"status": "ok"}`, or 503 `{"status": "unavailable", "redis": F}`
with F the storage fault class (router.faults: `unreachable`, `timeout`, `out-of-memory`, `read-only`).

On a Redis Cluster one PING answered by whichever node the client picks says nothing about the others: a master that
is down leaves its slots (and so the buses, queues and schedule groups hashed there) unserved while the rest
answer. So every master the client's slot map knows is pinged, concurrently, and the answer lists them all, each
named by the slot ranges it serves (never by its address: nothing a client reads names a Redis node, see
router.faults), with `ok` or its fault class:

    {"status": "ok", "masters": [{"slots": "0-5460", "redis": "ok"}, {"slots": "5461-10922", "redis": "ok"}, ...]}
    {"status": "unavailable", "redis": "unreachable",
     "masters": [{"slots": "0-5460", "redis": "ok"}, {"slots": "5461-10922", "redis": "unreachable"}, ...]}

The first is 200, the second 503 with `redis` the first fault found. The slot map is refreshed first when the
client has seen a topology change (a failover: the promoted replica is then listed in its old master's place); a
cluster of which no node answers is 503 `{"status": "unavailable", "redis": "unreachable"}`, as on a single Redis.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster

from router.faults import fault_class, log_fault
from router.redis_client import AnyRedis, as_cluster

__all__ = ["check", "slot_ranges"]

log = logging.getLogger("switchboard.app")

OK = "ok"
CLUSTER_SLOTS = 16384


async def check(redis: AnyRedis) -> tuple[int, dict[str, Any]]:
    """The /health answer for the router's command client: (HTTP status, JSON body). It never raises."""
    cluster = as_cluster(redis)
    if cluster is not None:
        return await _check_cluster(cluster)
    try:
        await redis.ping()
    except Exception as err:  # health reports, it never raises
        return _down(err)
    return 200, {"status": OK}


def _down(err: BaseException) -> tuple[int, dict[str, Any]]:
    log_fault(log, "health check", err)
    return 503, {"status": "unavailable", "redis": fault_class(err) or "error"}


async def _check_cluster(cluster: RedisCluster) -> tuple[int, dict[str, Any]]:
    try:
        await cluster.initialize()  # a no-op unless a topology change was seen since the last command
    except Exception as err:  # no node answers
        return _down(err)
    ranges = slot_ranges(cluster.nodes_manager.slots_cache)
    masters = sorted(cluster.get_primaries(), key=lambda node: ranges.get(node.name, [(CLUSTER_SLOTS, 0)])[0])
    answers = await asyncio.gather(*(_ping(cluster, node) for node in masters))
    listed = [
        {"slots": ",".join(f"{low}-{high}" for low, high in ranges.get(node.name, [])) or "none", "redis": answer}
        for node, answer in zip(masters, answers, strict=True)
    ]
    faults = [answer for answer in answers if answer != OK]
    if faults:
        return 503, {"status": "unavailable", "redis": faults[0], "masters": listed}
    return 200, {"status": OK, "masters": listed}


async def _ping(cluster: RedisCluster, node: ClusterNode) -> str:
    try:
        await cluster.execute_command("PING", target_nodes=node)
    except Exception as err:  # health reports, it never raises
        log_fault(log, "health check", err)
        return fault_class(err) or "error"
    return OK


def slot_ranges(slots_cache: dict[int, list[ClusterNode]]) -> dict[str, list[tuple[int, int]]]:
    """Each master's (by node name) slot ranges, from a cluster client's slot map (slot -> [master, replicas...])."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    current: str | None = None
    for slot in range(CLUSTER_SLOTS):
        nodes = slots_cache.get(slot)
        name = nodes[0].name if nodes else None
        if name is not None and name == current:
            low, _ = ranges[name][-1]
            ranges[name][-1] = (low, slot)
        elif name is not None:
            ranges.setdefault(name, []).append((slot, slot))
        current = name
    return ranges
