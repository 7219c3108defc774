"""Messages through the SQS API: send, receive (with long polling and redrive), delete, visibility, purge, counts.

Each call is one script of router.sqs.scripts on the queue's keys; this module turns requests into script arguments
and replies into `Received` messages. A SendMessage writes the same stream entry a rule's delivery writes
(router.delivery.queues: `message_id`, `delivery_id`, `body`, `sent_ms`, `group_id`, `attributes`), plus the SQS-only
fields `attribute_types`, `dedup_id`, `delay_s` and `trace_header`; so a message is the same message whichever way
it came in, and `switchboard queue read` shows both.

Redrive: a receive that finds a message already received `maxReceiveCount` times hands it back instead of
returning it (holding it invisible for 30 s); this module appends it to the stream of the dead-letter queue (the
one the RedrivePolicy's ARN names, in that ARN's account and region: router.sqs.queues `dead_letter_queue`; same
message id, body, attributes and sent time, plus `dlq_source`, the source queue's ARN) and then removes it from the
source (FORGET). A crash between the two leaves it in both for at most those 30 s, then it is moved again: at
least once, never lost, as SQS itself is.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from router.keys import Keys
from router.sqs import scripts
from router.sqs.errors import PurgeQueueInProgress, QueueDoesNotExist
from router.sqs.queue_attributes import QueueConfig
from router.sqs.queues import dead_letter_queue
from router.sqs.waiters import Waiters

__all__ = ["Counts", "MessageStore", "Outgoing", "Received", "Sent"]

SCAN = 1000
"""Stream entries (and FIFO groups) one receive script looks at, at most."""

PURGE_INTERVAL_MS = 60_000
"""One PurgeQueue per queue per 60 seconds, as on SQS."""

_COPIED = (
    b"message_id",
    b"delivery_id",
    b"body",
    b"sent_ms",
    b"group_id",
    b"attributes",
    b"attribute_types",
    b"dedup_id",
    b"trace_header",
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send: its stream fields (without `message_id`/`sent_ms`), and its FIFO ids."""

    fields: dict[str, Any]
    group_id: str = ""
    dedup_id: str = ""


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str
    entry_id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Received:
    entry_id: str
    receive_count: int
    first_receive_ms: int
    token: str
    fields: dict[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Counts:
    visible: int
    not_visible: int
    delayed: int


def sequence_number(entry_id: str) -> str:
    """A FIFO message's SequenceNumber: its stream id as one 20-digit, strictly increasing number."""
    ms, _, seq = entry_id.partition("-")
    return f"{int(ms):013d}{int(seq or 0):07d}"


class MessageStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys, waiters: Waiters, source_arn: Any) -> None:
        self.redis = redis
        self.keys = keys
        self.waiters = waiters
        self.source_arn = source_arn
        """`key-layout name -> ARN` of a queue (for the `dlq_source` of redriven messages)."""
        self._send = redis.register_script(scripts.SEND)
        self._receive = redis.register_script(scripts.RECEIVE)
        self._receive_fifo = redis.register_script(scripts.RECEIVE_FIFO)
        self._delete = redis.register_script(scripts.DELETE)
        self._visibility = redis.register_script(scripts.CHANGE_VISIBILITY)
        self._forget = redis.register_script(scripts.FORGET)
        self._purge = redis.register_script(scripts.PURGE)
        self._counts = redis.register_script(scripts.COUNTS)

    def _keys(self, queue: str) -> list[str]:
        """Every key of the queue whose key-layout name is `queue` (a `QueueConfig.name`)."""
        return self.keys.queue_sqs_keys(queue)

    async def send(self, config: QueueConfig, messages: Sequence[Outgoing]) -> list[Sent]:
        now_ms = int(time.time() * 1000)
        args: list[Any] = [now_ms, int(config.fifo), int(config.dedup_by_group), len(messages)]
        ids = [str(uuid.uuid4()) for _ in messages]
        for message, message_id in zip(messages, ids, strict=True):
            fields = {"message_id": message_id, "delivery_id": message_id, **message.fields, "sent_ms": now_ms}
            args += [message.dedup_id, message.group_id, 2 * len(fields)]
            for name, value in fields.items():
                args += [name, value]
        reply = await self._send(keys=self._keys(config.name), args=args)
        if reply == -1:
            raise QueueDoesNotExist()
        return [Sent(_text(mid), _text(eid), bool(dup)) for eid, mid, dup in reply]

    async def receive(
        self, config: QueueConfig, count: int, visibility_s: int, wait_s: int, *, attempts: int = 3
    ) -> list[Received]:
        """Up to `count` messages, waiting up to `wait_s` for the first one."""
        deadline = time.monotonic() + wait_s
        redrive = dead_letter_queue(self.keys, config)  # in the namespace its ARN names (router.sqs.queues)
        while True:
            token = os.urandom(8).hex()
            args: list[Any] = [
                int(time.time() * 1000),
                count,
                visibility_s * 1000,
                config.delay_s * 1000,
                config.retention_s * 1000,
                redrive[1] if redrive else 0,
                token,
                SCAN,
            ]
            script = self._receive
            if config.fifo:
                script = self._receive_fifo
                args.append(config.get("DeduplicationScope"))
            reply = await script(keys=self._keys(config.name), args=args)
            if reply == -1:
                raise QueueDoesNotExist()
            messages, moving, cursor, wake = reply
            if moving and redrive is not None:
                await self._redrive(config.name, redrive[0], moving)
                if not messages and attempts > 0:
                    attempts -= 1
                    continue
            if messages:
                return [_received(m) for m in messages]
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            if wake:
                left = min(left, max(int(wake) / 1000 - time.time(), 0.001))
            await self.waiters.wait(config.name, _text(cursor), left)

    async def _redrive(self, source: str, dlq: str, moving: list[Any]) -> None:
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in moving:
                fields = _fields(item[4])
                copy: dict[Any, Any] = {k: v for k, v in fields.items() if k in _COPIED}
                copy[b"dlq_source"] = self.source_arn(source)
                copy.setdefault(b"sent_ms", now_ms)
                pipe.xadd(self.keys.queue(dlq), copy)
            pipe.zadd(self.keys.queues, {dlq: 0}, nx=True)
            await pipe.execute()
        ids = [_text(item[0]) for item in moving]
        await self._forget(keys=self._keys(source), args=[len(ids), *ids])

    async def delete(self, config: QueueConfig, handles: Sequence[tuple[str, str]]) -> list[int]:
        """Codes per (entry id, token), see scripts.DELETE."""
        args: list[Any] = [int(time.time() * 1000), int(config.fifo), len(handles)]
        for entry_id, token in handles:
            args += [entry_id, token]
        reply = await self._delete(keys=self._keys(config.name), args=args)
        if reply == -1:
            raise QueueDoesNotExist()
        if config.fifo and 1 in reply:
            self.waiters.poke(config.name)
        return [int(code) for code in reply]

    async def change_visibility(self, config: QueueConfig, items: Sequence[tuple[str, str, int]]) -> list[int]:
        """1 (changed) or 0 (not in flight under that handle) per (entry id, token, seconds)."""
        args: list[Any] = [int(time.time() * 1000), len(items)]
        for entry_id, token, seconds in items:
            args += [entry_id, token, seconds * 1000]
        reply = await self._visibility(keys=self._keys(config.name), args=args)
        if reply == -1:
            raise QueueDoesNotExist()
        if any(seconds == 0 for _, _, seconds in items):
            self.waiters.poke(config.name)
        return [int(code) for code in reply]

    async def purge(self, config: QueueConfig) -> None:
        first = 1
        while True:
            reply = await self._purge(
                keys=self._keys(config.name), args=[int(time.time() * 1000), 500, first, PURGE_INTERVAL_MS]
            )
            if reply == -1:
                raise QueueDoesNotExist()
            if reply == -2:
                raise PurgeQueueInProgress(self.keys.unscoped(config.name)[1])
            if reply == 0:
                return
            first = 0

    async def counts(self, config: QueueConfig) -> Counts:
        reply = await self._counts(
            keys=self._keys(config.name), args=[int(time.time() * 1000), config.delay_s * 1000, 1000, int(config.fifo)]
        )
        if reply == -1:
            raise QueueDoesNotExist()
        return Counts(int(reply[0]), int(reply[1]), int(reply[2]))


def _fields(raw: list[Any]) -> dict[bytes, bytes]:
    return {raw[i]: raw[i + 1] for i in range(0, len(raw), 2)}


def _received(raw: list[Any]) -> Received:
    return Received(_text(raw[0]), int(raw[1]), int(raw[2]), _text(raw[3]), _fields(raw[4]))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
