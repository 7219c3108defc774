"""The SQS state machinery on a real 3-node Redis Cluster: every script is single-slot (`{queue:Q}`), queues land on
different nodes, redrive crosses slots in two steps, and long polling blocks on the queue's own node.

The app has no cluster client yet (issue 9), so this drives router.sqs's stores directly with redis-py's asyncio
cluster client. The cluster is started here (three redis-server processes with cluster mode on free ports, slots
assigned and nodes introduced with CLUSTER commands) and stopped at the end of the module.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio.cluster import RedisCluster

from router.keys import Keys
from router.sqs.messages import MessageStore, Outgoing
from router.sqs.queues import QueueStore
from router.sqs.waiters import Waiters
from tests.conftest import free_port
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

DLQ_POLICY = '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:dead", "maxReceiveCount": 1}'


@pytest.fixture(scope="module")
def cluster_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    exe = shutil.which("redis-server")
    assert exe is not None, "redis-server is not installed: run `make test`, which installs it"
    ports = [free_port() for _ in range(3)]
    bus_ports = [free_port() for _ in ports]  # the default, port + 10000, may be past 65535
    procs = []
    for port, bus_port in zip(ports, bus_ports, strict=True):
        data = tmp_path_factory.mktemp(f"cluster-{port}")
        args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", ""]
        args += ["--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--cluster-port", str(bus_port)]
        procs.append(subprocess.Popen([*args, "--logfile", "redis.log"], stdout=subprocess.DEVNULL))
    try:
        clients = [redis.Redis(host="127.0.0.1", port=port) for port in ports]
        for client in clients:
            eventually_sync(_pinger(client), what="a cluster node answering")
        per_node = 16384 // len(ports)
        for index, client in enumerate(clients):
            last = 16383 if index == len(ports) - 1 else (index + 1) * per_node - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", index * per_node, last)
        for port, bus_port in zip(ports[1:], bus_ports[1:], strict=True):
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port, bus_port)
        eventually_sync(
            lambda: all(b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO") for c in clients),
            timeout_s=30,
            what="the cluster to form",
        )
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _pinger(client: redis.Redis) -> Callable[[], bool]:
    def pings() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    return pings


@pytest.fixture
async def cluster(cluster_ports: list[int]) -> AsyncIterator[RedisCluster]:
    client = RedisCluster(host="127.0.0.1", port=cluster_ports[0])
    await client.initialize()
    await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    await client.aclose()


async def test_queue_operations_run_on_a_cluster(cluster: RedisCluster, tmp_path: Path) -> None:
    keys = Keys()
    queues = QueueStore(cluster, keys, "123456789012", "us-east-1")  # type: ignore[arg-type]
    waiters = Waiters(cluster, keys)  # type: ignore[arg-type]
    messages = MessageStore(cluster, keys, waiters, queues.arn)  # type: ignore[arg-type]
    await queues.create("orders", {"RedrivePolicy": DLQ_POLICY}, {"team": "shop"})
    await queues.create("dead", {}, {})
    await queues.create("jobs.fifo", {"FifoQueue": "true"}, {})
    nodes = {cluster.get_node_from_key(keys.queue(n)).name for n in ("orders", "dead", "jobs.fifo")}  # type: ignore[union-attr]
    assert len(nodes) >= 2, "the three queues should not all hash to one node"

    orders = await queues.config("orders", fresh=True)
    await messages.send(orders, [Outgoing({"body": f"m{i}"}) for i in range(5)])
    first = await messages.receive(orders, 10, 0, 0)
    assert sorted(m.fields[b"body"] for m in first) == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert await messages.receive(orders, 10, 30, 0) == []  # received once already: moved to the DLQ instead
    dead = await queues.config("dead", fresh=True)
    moved = await messages.receive(dead, 10, 30, 0)
    assert sorted(m.fields[b"body"] for m in moved) == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert {m.fields[b"dlq_source"] for m in moved} == {b"arn:aws:sqs:us-east-1:123456789012:orders"}
    assert await messages.delete(dead, [(m.entry_id, m.token) for m in moved]) == [1] * 5

    fifo = await queues.config("jobs.fifo", fresh=True)
    sends = [Outgoing({"body": f"f{i}", "group_id": "g", "dedup_id": str(i)}, "g", str(i)) for i in range(3)]
    await messages.send(fifo, sends)
    head = await messages.receive(fifo, 2, 30, 0)
    assert [m.fields[b"body"] for m in head] == [b"f0", b"f1"]
    assert await messages.receive(fifo, 10, 30, 0) == []  # the group is locked
    await messages.delete(fifo, [(m.entry_id, m.token) for m in head])
    assert [m.fields[b"body"] for m in await messages.receive(fifo, 10, 30, 0)] == [b"f2"]
    await messages.purge(fifo)
    counts = await messages.counts(fifo)
    assert (counts.visible, counts.not_visible, counts.delayed) == (0, 0, 0)

    started = time.monotonic()

    async def later() -> None:
        await asyncio.sleep(0.3)
        await messages.send(orders, [Outgoing({"body": "late"})])

    sender = asyncio.create_task(later())
    late = await messages.receive(await queues.config("orders", fresh=True), 1, 30, 10)
    await sender
    assert [m.fields[b"body"] for m in late] == [b"late"]
    assert time.monotonic() - started < 5

    names, _ = await queues.names("", None, 100)
    assert names == ["dead", "jobs.fifo", "orders"]
    for name in names:
        await queues.delete(name)
    assert await cluster.keys("sb:*", target_nodes=RedisCluster.PRIMARIES) == []
    await waiters.stop()
