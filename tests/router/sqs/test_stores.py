"""The SQS stores (router.sqs) driven directly on the test's Redis, a single redis-server and the 3-master cluster
(tests/conftest.py): every script is single-slot (`{queue:Q}`), queues land on different nodes of the cluster,
redrive crosses slots in two steps, long polling wakes on the queue's own node, and deleting every queue leaves no
key behind on any node.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from router.keys import Keys
from router.namespace import Namespace
from router.sqs import queues as queue_store
from router.sqs.messages import MessageStore, Outgoing
from router.sqs.queues import QueueStore
from router.sqs.waiters import Waiters
from tests.conftest import all_keys
from tests.waiting import eventually

pytestmark = pytest.mark.integration

HOME = Namespace("123456789012", "us-east-1")
WEST = Namespace("111122223333", "us-west-1")
DLQ_POLICY = '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:dead", "maxReceiveCount": 1}'


async def test_queue_operations_on_single_and_cluster(redis_client: Any, redis_kind: str) -> None:
    cluster = redis_client
    keys = Keys()
    queues = QueueStore(cluster, keys)
    waiters = Waiters(cluster, keys)
    messages = MessageStore(cluster, keys, waiters, queues.arn)
    await queues.create(HOME, "orders", {"RedrivePolicy": DLQ_POLICY}, {"team": "shop"})
    await queues.create(HOME, "dead", {}, {})
    await queues.create(HOME, "jobs.fifo", {"FifoQueue": "true"}, {})
    if redis_kind == "cluster":
        nodes = {cluster.get_node_from_key(keys.queue(n)).name for n in ("orders", "dead", "jobs.fifo")}
        assert len(nodes) >= 2, "the three queues should not all hash to one node"

    orders = await queues.config("orders", fresh=True)
    await messages.send(orders, [Outgoing({"body": f"m{i}"}) for i in range(5)])
    first = await messages.receive(orders, 10, 0, 0)
    assert sorted(m.fields[b"body"] for m in first) == [b"m0", b"m1", b"m2", b"m3", b"m4"]

    async def redriven() -> bool:  # visible again from the next millisecond: received once already, so moved
        assert await messages.receive(orders, 10, 30, 0) == []
        return int(await cluster.xlen(keys.queue("dead"))) == 5

    await eventually(redriven, what="the five messages moved to the dead-letter queue")
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

    names, _ = await queues.names(HOME, "", None, 100)
    assert names == ["dead", "jobs.fifo", "orders"]
    for name in names:
        await queues.delete(name)
    assert await all_keys(cluster, "sb:*") == set()
    await waiters.stop()


async def test_queues_of_two_namespaces_on_single_and_cluster(redis_client: Any) -> None:
    """The same names in two namespaces are two queues, each with its own hash tag; a RedrivePolicy's dead-letter
    queue is the one of its ARN's namespace (the source's when the ARN names none); names lists one namespace."""
    keys = Keys()
    queues = QueueStore(redis_client, keys)
    waiters = Waiters(redis_client, keys)
    messages = MessageStore(redis_client, keys, waiters, queues.arn)
    west_dlq = '{"deadLetterTargetArn": "arn:aws:sqs:us-west-1:111122223333:dead", "maxReceiveCount": 1}'
    nowhere_dlq = '{"deadLetterTargetArn": "arn:aws:sqs:local:1:dead", "maxReceiveCount": 1}'
    home_orders = await queues.create(HOME, "orders", {}, {})
    west_orders = await queues.create(WEST, "orders", {"RedrivePolicy": west_dlq}, {})
    west_other = await queues.create(WEST, "other", {"RedrivePolicy": nowhere_dlq}, {})
    await queues.create(HOME, "dead", {}, {})
    west_dead = await queues.create(WEST, "dead", {}, {})
    assert (home_orders, west_orders, west_dead) == (
        "orders",
        "111122223333@us-west-1@orders",
        "111122223333@us-west-1@dead",
    )
    assert queues.arn(west_orders) == "arn:aws:sqs:us-west-1:111122223333:orders"
    assert queues.url("http://h", west_orders) == "http://h/111122223333/orders"
    assert queues.dead_letter_queue(await queues.config(west_other)) == (west_dead, 1)

    west = await queues.config(west_orders, fresh=True)
    await messages.send(west, [Outgoing({"body": "west"})])
    await messages.send(await queues.config(home_orders), [Outgoing({"body": "east"})])
    assert [m.fields[b"body"] for m in await messages.receive(west, 10, 0, 0)] == [b"west"]

    async def redriven() -> bool:
        assert await messages.receive(west, 10, 30, 0) == []
        return int(await redis_client.xlen(keys.queue(west_dead))) == 1

    await eventually(redriven, what="the west message in the west dead-letter queue")
    assert await redis_client.exists(keys.queue("dead")) == 0
    [moved] = await messages.receive(await queues.config(west_dead, fresh=True), 10, 30, 0)
    assert moved.fields[b"dlq_source"] == b"arn:aws:sqs:us-west-1:111122223333:orders"
    home = await messages.receive(await queues.config(home_orders, fresh=True), 10, 30, 0)
    assert [m.fields[b"body"] for m in home] == [b"east"]

    assert (await queues.names(HOME, "", None, 100))[0] == ["dead", "orders"]
    # home names sort on both sides of the other namespaces' (`1111...@`): paging reads past those, batch by batch
    await queues.create(HOME, "0-first", {}, {})
    await queues.create(HOME, "2-after", {}, {})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(queue_store, "_LIST_BATCH", 1)
        assert await queues.names(HOME, "", None, 1) == (["0-first"], "0-first")
        assert await queues.names(HOME, "", "0-first", 1) == (["2-after"], "2-after")
        assert await queues.names(HOME, "", "2-after", 5) == (["dead", "orders"], None)
        assert await queues.names(WEST, "", "dead", 1) == ([west_orders], "orders")
    for queue in ("0-first", "2-after"):
        await queues.delete(queue)
    assert (await queues.names(WEST, "", None, 100))[0] == [west_dead, west_orders, west_other]
    assert await queues.names(WEST, "o", None, 1) == ([west_orders], "orders")
    assert await queues.names(WEST, "o", "orders", 1) == ([west_other], None)
    for queue in ("dead", "orders", west_dead, west_orders, west_other):
        await queues.delete(queue)
    assert await all_keys(redis_client, "sb:*") == set()
    await waiters.stop()
