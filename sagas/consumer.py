"""Reading a queue target's stream with a consumer group: many processes share it, a dead one's messages are taken
over, a message is acknowledged only once its handler says it is done.

`QueueConsumer` reads `sb:{queue:Q}:messages` (docs/queues.md) as consumer NAME of GROUP and hands each message to
`handler(message) -> bool` as its own task, up to `max_in_flight` at once (the handler serialises what must be
serialised: sagas.runtime orders one instance's messages). True acknowledges the message (`XACK`, then `XDEL`
unless `delete_after_ack` is off, so the queue does not grow without bound); False or an exception leaves it
pending, and once it has been pending for `claim_idle_s` any consumer of the group claims it (`XPENDING` with
`IDLE`, then `XCLAIM`) and handles it again: a consumer killed with kill -9 loses nothing. A message delivered more
than `max_deliveries` times goes to `on_poison` and is acknowledged, so it cannot block its queue forever.
`stop` waits for the handlers and rejections in progress and sends every acknowledgement still owed (one cut short
by the stop is sent again), so a clean stop leaves nothing pending that was done.

A group that disappears (the queue was deleted or emptied with FLUSHALL) is created again. Acknowledgements go out
in batches, through a `sagas.batching.Coalescer` (shared with the runtime or the other consumers of the process when
given), so they share round trips with everything else the process sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from sagas.batching import Coalescer

__all__ = ["ConsumerOptions", "QueueConsumer", "QueueMessage", "consumer_name", "raise_if_cancelling"]

log = logging.getLogger("switchboard.sagas.consumer")


def raise_if_cancelling() -> None:
    """Re-raise a cancellation that a library turned into another error (redis-py can make a cancelled read a
    connection error): a loop that retries on that error would otherwise run on after its task was stopped, and the
    `stop()` awaiting it would wait forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def consumer_name() -> str:
    """A name unique to this process: `host-pid-random`."""
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    batch: int = 64
    block_ms: int = 1000
    max_in_flight: int = 256
    claim_idle_s: float = 30.0
    """A message pending (delivered, not acknowledged) this long is taken over: its consumer is presumed dead."""
    claim_interval_s: float = 2.0
    max_deliveries: int = 20
    delete_after_ack: bool = True
    error_backoff_s: float = 0.5


@dataclass(frozen=True, slots=True)
class QueueMessage:
    entry_id: bytes
    fields: Mapping[bytes, bytes]
    deliveries: int = 1

    @property
    def body(self) -> bytes:
        return self.fields.get(b"body", b"")

    @property
    def delivery_id(self) -> str | None:
        raw = self.fields.get(b"delivery_id")
        return raw.decode(errors="replace") if raw else None


Handler = Callable[[QueueMessage], Awaitable[bool]]
PoisonHandler = Callable[[QueueMessage], Awaitable[None]]


class QueueConsumer:
    def __init__(
        self,
        redis: aioredis.Redis,
        stream: str,
        group: str,
        handler: Handler,
        *,
        name: str | None = None,
        options: ConsumerOptions | None = None,
        on_poison: PoisonHandler | None = None,
        batch: Coalescer | None = None,
    ) -> None:
        self.redis = redis
        self.batch = batch or Coalescer(redis)
        self.stream = stream
        self.group = group
        self.name = name or consumer_name()
        self.handler = handler
        self.options = options or ConsumerOptions()
        self.on_poison = on_poison
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[bytes] = set()
        self._acks: list[bytes] = []
        self._ack_wakeup = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._acker: asyncio.Task[None] | None = None
        self._claimed_at = 0.0
        self.handled = 0
        """Messages acknowledged by this consumer."""

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    async def start(self) -> None:
        await self.ensure_group()
        if self._reader is None:
            self._reader = asyncio.create_task(self._run(), name=f"consumer {self.stream}")
            self._acker = asyncio.create_task(self._ack_loop(), name=f"acks {self.stream}")

    async def stop(self, timeout_s: float = 10.0) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
        acker, self._acker = self._acker, None
        if acker is not None:
            acker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acker
        with contextlib.suppress(RedisError, OSError):
            await self._flush_acks()

    # reading ------------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except ResponseError as err:
                raise_if_cancelling()
                if "NOGROUP" in str(err):
                    await self.ensure_group()
                    continue
                log.warning("queue %s: %s", self.stream, err)
                await asyncio.sleep(self.options.error_backoff_s)
            except (RedisError, OSError) as err:
                raise_if_cancelling()
                log.warning("queue %s: redis unavailable, retrying: %s", self.stream, err)
                await asyncio.sleep(self.options.error_backoff_s)

    async def _step(self) -> None:
        now = time.monotonic()
        if now - self._claimed_at >= self.options.claim_interval_s:
            self._claimed_at = now
            await self.reclaim()
        free = self.options.max_in_flight - len(self._tasks)
        if free <= 0:
            await asyncio.wait(list(self._tasks), return_when=asyncio.FIRST_COMPLETED)
            return
        block = self.options.block_ms
        if self.options.claim_interval_s * 1000 < block:
            block = max(1, int(self.options.claim_interval_s * 1000))
        answer: Any = await self.redis.xreadgroup(
            self.group, self.name, {self.stream: ">"}, count=min(self.options.batch, free), block=block
        )
        for _, entries in answer or []:
            for entry_id, fields in entries:
                self._spawn(QueueMessage(entry_id, fields))

    async def reclaim(self) -> int:
        """Take over the group's messages pending longer than `claim_idle_s`; returns how many."""
        idle_ms = int(self.options.claim_idle_s * 1000)
        pending: Any = await self.redis.xpending_range(
            self.stream, self.group, min="-", max="+", count=self.options.batch, idle=idle_ms
        )
        candidates = [p for p in pending if p["message_id"] not in self._in_flight]
        if not candidates:
            return 0
        counts = {p["message_id"]: int(p["times_delivered"]) for p in candidates}
        claimed: Any = await self.redis.xclaim(self.stream, self.group, self.name, idle_ms, list(counts))
        taken = 0
        for entry_id, fields in claimed:
            if fields is None:
                continue
            deliveries = counts.get(entry_id, 1) + 1
            message = QueueMessage(entry_id, fields, deliveries)
            if deliveries > self.options.max_deliveries and self.on_poison is not None:
                self._spawn(message, self._reject(message, self.on_poison))
            else:
                self._spawn(message)
            taken += 1
        return taken

    def _spawn(self, message: QueueMessage, work: Coroutine[Any, Any, None] | None = None) -> None:
        """Handle (or, given `work`, reject) `message` in a task of its own, which `stop` waits for: a reader
        cancelled mid-way never leaves a message rejected but unacknowledged (rejected again on the next claim)."""
        self._in_flight.add(message.entry_id)
        task = asyncio.create_task(self._one(message) if work is None else work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reject(self, message: QueueMessage, on_poison: PoisonHandler) -> None:
        try:
            await on_poison(message)
        except asyncio.CancelledError:
            raise
        except Exception:  # left pending: claimed (and rejected) again after claim_idle_s
            log.exception("queue %s: message %s could not be rejected", self.stream, message.entry_id.decode())
            return
        finally:
            self._in_flight.discard(message.entry_id)
        self._acks.append(message.entry_id)
        self._ack_wakeup.set()

    async def _one(self, message: QueueMessage) -> None:
        try:
            done = await self.handler(message)
        except asyncio.CancelledError:
            raise
        except Exception:  # left pending: claimed again after claim_idle_s
            log.exception("queue %s: message %s failed", self.stream, message.entry_id.decode())
            done = False
        finally:
            self._in_flight.discard(message.entry_id)
        if done:
            self._acks.append(message.entry_id)
            self._ack_wakeup.set()

    # acknowledging ------------------------------------------------------------------------------------------
    async def _ack_loop(self) -> None:
        while True:
            await self._ack_wakeup.wait()
            self._ack_wakeup.clear()
            try:
                await self._flush_acks()
            except (RedisError, OSError) as err:  # the entries stay pending until a later flush succeeds
                raise_if_cancelling()
                log.warning("queue %s: acknowledgement failed: %s", self.stream, err)
                await asyncio.sleep(self.options.error_backoff_s)
                self._ack_wakeup.set()

    async def _flush_acks(self) -> None:
        ids, self._acks = self._acks, []
        if not ids:
            return
        commands: list[tuple[Any, ...]] = [("XACK", self.stream, self.group, *ids)]
        if self.options.delete_after_ack:
            commands.append(("XDEL", self.stream, *ids))
        try:
            await self.batch.run(commands)
        except BaseException:  # failed, or cancelled by `stop`: kept for the next flush (XACK and XDEL are idempotent)
            self._acks[:0] = ids
            raise
        self.handled += len(ids)
