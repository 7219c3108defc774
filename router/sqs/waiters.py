"""Long polling without a busy loop and with a bounded number of Redis connections: one shared stream reader per
Redis node, in this process, whatever the number of long-polled queues.

A ReceiveMessage with `WaitTimeSeconds` that finds nothing waits here until something may have changed: a new entry
in the queue's stream (any process, any writer: SendMessage, a rule's delivery), a change made by this process
(`poke`: a visibility change, a FIFO delete that unlocks a group), the time the next in-flight or delayed message
becomes visible (the receive script reports it), or its deadline. Then it runs the receive script again.

Every queue with waiters is *watched* from the stream id its waiters last saw. The watched queues of one Redis node
share one reader (router.stream_reader: a dedicated connection, never one of the command pool's), so N long polls on
M queues cost one connection per node (one on a single Redis), not one per queue, and a long poll never holds a
connection that other calls need:

- on a single Redis, the reader waits with one `XREAD BLOCK` over every watched stream;
- on a cluster, every queue has its own slot (`{queue:Q}`) and a command's keys must share one, so the reader of a
  node that serves several watched slots first reads them all without blocking (one pipelined round trip), and then
  blocks on one of them, in turn, for at most `slice_ms` (100 ms). A message on a node with one watched slot wakes
  its waiters at once; with several, within about `slice_ms`.

A queue that starts being watched interrupts the blocked read (`CLIENT UNBLOCK`), which starts again with it; a
queue stays watched `linger_s` after its last waiter left, so a client that polls again and again does not
interrupt the read each time (a waiter whose receive saw less of the stream than the reader has read since returns
at once, so an entry the reader saw while nobody waited is never missed). Changes another process makes without
appending (its visibility changes and FIFO deletes) are seen within `recheck_s` (1 s): each wait ends by then, and
the receive looks again. After a Redis error the reader's queues are dropped (and looked up again, on the node that
serves them now, by their next waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.keys import Keys
from router.redis_client import as_cluster
from router.stream_reader import Entry, StreamReader

__all__ = ["Waiters"]

log = logging.getLogger("switchboard.sqs")

_SINGLE = "redis"
"""The one reader's key on a single Redis (on a cluster, readers are keyed by node name)."""


def _order(entry_id: str) -> tuple[int, int]:
    """A stream id as a comparable pair ((-1, -1) for anything that is not `ms-seq`)."""
    ms, _, seq = entry_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return -1, -1


class _Watch:
    def __init__(self, queue: str, key: str, after: str, node: str) -> None:
        self.queue = queue
        self.key = key
        self.after = after
        self.node = node
        self.events: set[asyncio.Event] = set()
        self.idle_since = time.monotonic()

    def advance(self, entry_id: str) -> None:
        if _order(entry_id) > _order(self.after):
            self.after = entry_id

    def wake(self) -> None:
        for event in self.events:
            event.set()


class _Node:
    """The watched queues of one Redis node and the reader that waits for them."""

    def __init__(self, reader: StreamReader) -> None:
        self.reader = reader
        self.watches: dict[str, _Watch] = {}
        """Stream key -> watch."""
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.turn = 0


class Waiters:
    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        *,
        block_ms: int = 1000,
        recheck_s: float = 1.0,
        slice_ms: int = 100,
        linger_s: float = 2.0,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.block_ms = block_ms
        self.recheck_s = recheck_s
        self.slice_ms = slice_ms
        self.linger_s = linger_s
        self._cluster = as_cluster(redis)
        self._watches: dict[str, _Watch] = {}
        self._nodes: dict[str, _Node] = {}
        self._stopping = False
        self._stop = asyncio.Event()

    async def wait(self, queue: str, after: str, timeout_s: float) -> None:
        """Return when the queue may have a message for a receive that saw nothing after stream id `after`, or
        after `timeout_s` (at most `recheck_s`)."""
        timeout_s = min(timeout_s, self.recheck_s)
        if timeout_s <= 0 or self._stopping:
            return
        watch = self._watches.get(queue)
        if watch is None:
            watch = self._watch(queue, after)
        elif _order(after) < _order(watch.after):
            return  # the reader has seen entries after `after` (while nobody waited): the receive looks again
        event = asyncio.Event()
        watch.events.add(event)
        node = self._nodes[watch.node]
        if node.task is None or node.task.done():
            node.task = asyncio.create_task(self._run(watch.node, node), name=f"sqs-wait-{watch.node}")
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout_s)
        finally:
            watch.events.discard(event)
            if not watch.events:
                watch.idle_since = time.monotonic()

    def waiting(self, queue: str) -> int:
        """How many receives of this process wait on `queue` now."""
        watch = self._watches.get(queue)
        return len(watch.events) if watch is not None else 0

    def poke(self, queue: str) -> None:
        """Wake this process's receives waiting on `queue` (something became visible without a stream append)."""
        watch = self._watches.get(queue)
        if watch is not None:
            watch.wake()

    def _watch(self, queue: str, after: str) -> _Watch:
        key = self.keys.queue(queue)
        name = _SINGLE
        if self._cluster is not None:
            found = self._cluster.get_node_from_key(key)
            name = found.name if found is not None else _SINGLE
        node = self._nodes.get(name)
        if node is None:
            node = self._nodes[name] = _Node(StreamReader(self.redis, key, f"sqs-wait:{name}"))
        watch = self._watches[queue] = _Watch(queue, key, after, name)
        node.watches[key] = watch
        node.changed.set()
        return watch

    def _forget(self, node: _Node, watch: _Watch) -> None:
        node.watches.pop(watch.key, None)
        if self._watches.get(watch.queue) is watch:
            del self._watches[watch.queue]

    async def _run(self, name: str, node: _Node) -> None:
        while not self._stopping:
            now = time.monotonic()
            for watch in list(node.watches.values()):
                if not watch.events and now - watch.idle_since > self.linger_s:
                    self._forget(node, watch)
            if not node.watches:
                return
            node.changed.clear()
            try:
                await self._read(node)
            except (RedisError, OSError) as err:
                log.warning("long-poll read on %s failed: %s", name, err)
                for watch in list(node.watches.values()):
                    self._forget(node, watch)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.recheck_s)
                return

    async def _read(self, node: _Node) -> None:
        """One round: wake the waiters of every watched queue with new entries, blocking until there are some (or a
        queue joins, or the block runs out)."""
        by_slot: dict[int, dict[str, str]] = {}
        for key, watch in node.watches.items():
            slot = self._cluster.keyslot(key) if self._cluster is not None else 0
            by_slot.setdefault(slot, {})[key] = watch.after
        groups = list(by_slot.values())
        if len(groups) > 1:
            replies = await node.reader.xread_each(groups, count=1)
            if self._deliver(node, [part for reply in replies for part in reply]):
                return
            node.turn = (node.turn + 1) % len(groups)
            streams, block_ms = groups[node.turn], self.slice_ms
        else:
            streams, block_ms = groups[0], self.block_ms
        read = asyncio.ensure_future(node.reader.xread(streams, count=1, block_ms=block_ms))
        changed = asyncio.ensure_future(node.changed.wait())
        try:
            await asyncio.wait({read, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
        if not read.done():
            await node.reader.interrupt(read)
        if read.done() and not read.cancelled():
            self._deliver(node, read.result())

    def _deliver(self, node: _Node, reply: list[tuple[str, list[Entry]]]) -> bool:
        woke = False
        for stream, entries in reply:
            watch = node.watches.get(stream)
            if watch is None or not entries:
                continue
            entry_id = entries[-1][0]
            watch.advance(entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id))
            watch.wake()
            woke = True
        return woke

    async def stop(self) -> None:
        self._stopping = True
        self._stop.set()
        for watch in self._watches.values():
            watch.wake()
        tasks = [node.task for node in self._nodes.values() if node.task is not None]
        for node in self._nodes.values():
            node.changed.set()
        if tasks:
            await asyncio.wait(tasks, timeout=self.block_ms / 1000 + 2.0)
        for task in tasks:
            task.cancel()
        for node in self._nodes.values():
            await node.reader.aclose()
        self._watches.clear()
        self._nodes.clear()
