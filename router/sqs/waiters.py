"""Long polling without a busy loop: one blocking stream read per queue that has waiting receives, in this process.

A ReceiveMessage with `WaitTimeSeconds` that finds nothing waits here until something may have changed: a new entry
in the queue's stream (any process, any writer: SendMessage, a rule's delivery), a change made by this process
(`poke`: a visibility change, a FIFO delete that unlocks a group), the time the next in-flight or delayed message
becomes visible (the receive script reports it), or its deadline. Then it runs the receive script again.

For each queue with waiters, one task reads the stream with `XREAD BLOCK` from the cursor the waiters last saw,
so N waiting receives on a queue cost one Redis connection, not N, and none polls. Changes another process makes
without appending (its visibility changes and FIFO deletes) are seen within `recheck_s` (1 s): each wait ends by
then, and the receive looks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.keys import Keys

__all__ = ["Waiters"]

log = logging.getLogger("switchboard.sqs")


class _Watch:
    def __init__(self, after: str) -> None:
        self.after = after
        self.events: set[asyncio.Event] = set()
        self.task: asyncio.Task[None] | None = None


class Waiters:
    def __init__(self, redis: aioredis.Redis, keys: Keys, *, block_ms: int = 1000, recheck_s: float = 1.0) -> None:
        self.redis = redis
        self.keys = keys
        self.block_ms = block_ms
        self.recheck_s = recheck_s
        self._watches: dict[str, _Watch] = {}
        self._stopping = False

    async def wait(self, queue: str, after: str, timeout_s: float) -> None:
        """Return when the queue may have a message for a receive that saw nothing after stream id `after`, or
        after `timeout_s` (at most `recheck_s`)."""
        timeout_s = min(timeout_s, self.recheck_s)
        if timeout_s <= 0 or self._stopping:
            return
        watch = self._watches.get(queue)
        if watch is None:
            watch = self._watches[queue] = _Watch(after)
        event = asyncio.Event()
        watch.events.add(event)
        if watch.task is None or watch.task.done():
            watch.after = after
            watch.task = asyncio.create_task(self._watch(queue, watch), name=f"sqs-wait-{queue}")
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout_s)
        finally:
            watch.events.discard(event)

    def waiting(self, queue: str) -> int:
        """How many receives of this process wait on `queue` now."""
        watch = self._watches.get(queue)
        return len(watch.events) if watch is not None else 0

    def poke(self, queue: str) -> None:
        """Wake this process's receives waiting on `queue` (something became visible without a stream append)."""
        watch = self._watches.get(queue)
        if watch is not None:
            for event in watch.events:
                event.set()

    async def _watch(self, queue: str, watch: _Watch) -> None:
        key = self.keys.queue(queue)
        try:
            while watch.events and not self._stopping:
                try:
                    reply: Any = await self.redis.xread({key: watch.after}, count=1, block=self.block_ms)
                except (RedisError, OSError) as err:
                    log.warning("queue %s: long-poll read failed: %s", queue, err)
                    await asyncio.sleep(self.recheck_s)
                    reply = None
                for _, entries in reply or []:
                    for entry_id, _fields in entries:
                        watch.after = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                    for event in watch.events:
                        event.set()
        finally:
            if self._watches.get(queue) is watch and not watch.events:
                del self._watches[queue]

    async def stop(self) -> None:
        self._stopping = True
        tasks = [w.task for w in self._watches.values() if w.task is not None]
        for watch in self._watches.values():
            for event in watch.events:
                event.set()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.block_ms / 1000 + 2.0)
        self._watches.clear()
