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

Three round trips at most, each shared with other instances' dispatches (sagas.batching): PutEvents for the events,
one for the commands and timer changes, and, only once those are out, one that removes the messages from the outbox
together with the instance's index write (sagas.store). Of several changes of one timer in one outbox only the last
is applied (it is the one that counts), so timer changes need no order among themselves.

A transient failure raises `DispatchError` (or the Redis error) with the rest still in the outbox; the caller
leaves its input unacknowledged, so the dispatch is tried again.
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
from sagas.batching import Command, ScriptCall
from sagas.context import SagaMessage
from sagas.instance import Instance
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
        self._registered: set[str] = set()
        """Timer owners this dispatcher added to router.timers' owner registry."""
        """Messages this process dispatched (events, commands, timer changes)."""

    async def dispatch(
        self,
        saga: str,
        instance_key: str,
        shards: int,
        messages: Sequence[SagaMessage],
        *,
        now_ms: int,
        index: Instance | None = None,
    ) -> None:
        """Send `messages`, then remove them from the outbox and, with `index`, write the instance's index entry
        (the removal and the index write share the last round trip; both only once the messages are out)."""
        done: list[int] = []
        events = [m for m in messages if m["kind"] == "event"]
        if events:
            results = await self.publisher.publish(
                [EventEntry(m["bus"], m["source"], m["detail_type"], m["detail"]) for m in events]
            )
            for message, problem in zip(events, results, strict=True):
                if problem is not None:
                    await self._undeliverable(saga, instance_key, shards, message, problem=problem, now_ms=now_ms)
                done.append(int(message["seq"]))
        commands = self._redis_commands(saga, instance_key, shards, messages)
        if commands:
            await self.store.batch.run(commands)
            self._registered.update(c[2] for c in commands if isinstance(c, tuple) and c[0] == "SADD")
        done += [int(m["seq"]) for m in messages if m["kind"] != "event"]
        last: list[Command] = []
        if done:
            last.append(self.store.remove_outbox_command(saga, instance_key, done))
        if index is not None:
            last.append(self.store.index_call(index, shards))
        if last:
            await self.store.batch.run(last)
        self.dispatched += len(done)

    def _redis_commands(
        self, saga: str, instance_key: str, shards: int, messages: Sequence[SagaMessage]
    ) -> list[Command]:
        """Commands onto their queues, then the timer changes: one round trip for all of them."""
        out: list[Command] = []
        queues: dict[str, None] = {}
        for message in messages:
            if message["kind"] == "command":
                fields: dict[str, Any] = message_fields(message["id"], dumps(message["body"]))
                stream = self.router_keys.queue(message["queue"])
                out.append(("XADD", stream, "*", *(x for pair in fields.items() for x in pair)))
                queues[message["queue"]] = None
        if queues:
            out.append(("ZADD", self.router_keys.queues, "NX", *(x for q in queues for x in (0, q))))
        # Of several changes of one timer only the last counts (a schedule replaces, a cancel removes, either voids
        # a claim), so each timer gets one script call and their order does not matter.
        last: dict[str, SagaMessage] = {}
        for message in messages:
            if message["kind"] in ("timer", "cancel"):
                last.pop(message["name"], None)
                last[message["name"]] = message
        owner = SagaKeys.timer_owner(saga, shard_of(instance_key, shards))
        if owner not in self._registered and any(m["kind"] == "timer" for m in last.values()):
            out.append(("SADD", self.router_keys.timer_owners, owner))  # once per owner and process: idempotent
        for name, message in last.items():
            key = timer_key(instance_key, name)
            if message["kind"] == "timer":
                payload = orjson.dumps({"gen": int(message["gen"])})
                out.append(ScriptCall(*self.timers.schedule_script(owner, key, int(message["due_ms"]), payload)))
            else:
                out.append(ScriptCall(*self.timers.cancel_script(owner, key)))
        return out

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
