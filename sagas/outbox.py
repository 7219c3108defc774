"""Dispatching a committed outbox: events through PutEvents, commands onto queues, timers into router.timers.

Called after every commit, and again whenever a redelivered input turns out to be a duplicate (the process that
committed it may have died before dispatching, sagas.store). Messages are dispatched in the order the instance
produced them, each kind in one batch, and removed from the outbox once out:

- `event`: PutEvents (sagas.publish) on the message's bus. An entry the router refuses (malformed, no such bus)
  can never go out: it is removed, noted in the instance's history as undeliverable, and counted
  (`undeliverable`), so one bad message does not hold up the instance forever.
- `command`: appended to the queue's stream `sb:{queue:Q}:messages` in the format rule deliveries use
  (router.delivery.queues), with `delivery_id` = the message id, so consumers drop a re-dispatched copy by it.
- `timer` / `cancel`: `router.timers` under the owner `sagas:TYPE:SHARD`, timer key `INSTANCE|NAME`, payload the
  generation (`{"gen": N}`): a firing whose generation the instance no longer holds is stale (sagas.engine).

A transient failure raises `DispatchError` with the rest still in the outbox; the caller leaves its input
unacknowledged, so the dispatch is tried again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from router.delivery.queues import message_fields
from router.json_text import dumps
from router.keys import Keys
from router.timers import Timers
from sagas.context import SagaMessage
from sagas.keys import SagaKeys, shard_of
from sagas.publish import EventEntry, Publisher
from sagas.store import SagaStore

__all__ = ["OutboxDispatcher", "timer_key"]

log = logging.getLogger("switchboard.sagas.outbox")


def timer_key(instance_key: str, name: str) -> str:
    return f"{instance_key}|{name}"


class OutboxDispatcher:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        store: SagaStore,
        keys: SagaKeys,
        router_keys: Keys,
        timers: Timers,
        publisher: Publisher,
    ) -> None:
        self.redis = redis
        self.store = store
        self.keys = keys
        self.router_keys = router_keys
        self.timers = timers
        self.publisher = publisher
        self.dispatched = 0
        """Messages this process dispatched (events, commands, timer changes)."""

    async def dispatch(
        self, saga: str, instance_key: str, shards: int, messages: Sequence[SagaMessage], *, now_ms: int
    ) -> None:
        if not messages:
            return
        owner = SagaKeys.timer_owner(saga, shard_of(instance_key, shards))
        events = [m for m in messages if m["kind"] == "event"]
        commands = [m for m in messages if m["kind"] == "command"]
        timer_changes = [m for m in messages if m["kind"] in ("timer", "cancel")]
        done: list[int] = []
        if events:
            results = await self.publisher.publish(
                [EventEntry(m["bus"], m["source"], m["detail_type"], m["detail"]) for m in events]
            )
            for message, problem in zip(events, results, strict=True):
                if problem is not None:
                    await self._undeliverable(saga, instance_key, shards, message, problem=problem, now_ms=now_ms)
                done.append(int(message["seq"]))
        if commands:
            async with self.redis.pipeline(transaction=False) as pipe:
                for message in commands:
                    body = dumps(message["body"])
                    fields: Any = message_fields(message["id"], body)
                    pipe.xadd(self.router_keys.queue(message["queue"]), fields)
                pipe.zadd(self.router_keys.queues, dict.fromkeys({m["queue"] for m in commands}, 0), nx=True)
                await pipe.execute()
            done += [int(m["seq"]) for m in commands]
        for message in timer_changes:  # in order: a cancel and a new schedule of one name must not swap
            key = timer_key(instance_key, message["name"])
            if message["kind"] == "timer":
                payload = orjson.dumps({"gen": int(message["gen"])})
                await self.timers.schedule(owner, key, int(message["due_ms"]), payload)
            else:
                await self.timers.cancel(owner, key)
            done.append(int(message["seq"]))
        await self.store.remove_outbox(saga, instance_key, done)
        self.dispatched += len(done)

    async def _undeliverable(
        self, saga: str, instance_key: str, shards: int, message: SagaMessage, *, problem: str, now_ms: int
    ) -> None:
        log.warning("saga %s/%s: message %s cannot be published: %s", saga, instance_key, message["id"], problem)
        await self.store.note(
            saga,
            instance_key,
            {
                "at": now_ms,
                "outcome": "undeliverable",
                "message": message["id"],
                "type": message["detail_type"],
                "why": problem,
            },
        )
        await self.store.count(saga, shard_of(instance_key, shards), "undeliverable")
