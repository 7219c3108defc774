"""The saga runtime: one per process, any number of processes per saga type, sharing the work through Redis.

`SagaRuntime(redis, definitions, publisher)` consumes each definition's queue with the consumer group
`sagas-<type>` (sagas.consumer) and fires the definitions' durable timers (router.timers, owners
`sagas:<type>:<shard>`). For every input (a queue message, a timer firing, an operator's control message):

1. the instance is loaded with a check of the input's ids (`d:` delivery id, `e:` event id, `r:` reply, `t:`
   timer generation, `c:` control id): one seen before is a **duplicate**, whose only effect is to dispatch
   anything its first handling left in the outbox;
2. the engine decides (sagas.engine: pure);
3. the decision is committed in one script with its outbox (sagas.store); if another process committed first
   (a version conflict) the input is decided again on the fresh state. That is how one instance's events are
   serialised without a global lock: optimistic concurrency on the instance's own hash slot, plus an in-process
   lock per instance so one process does not race itself;
4. the outbox is dispatched (sagas.outbox), the index updated, and only then the message acknowledged (or the
   timer completed). A crash anywhere before that leaves the input to be handled again, as a duplicate.

Messages the saga cannot take (not JSON, no correlation key, delivered `max_deliveries` times without success) are
acknowledged into the type's `rejected` stream (sagas.keys) and counted. Operators send control messages (resume a
parked instance) onto the saga's own queue (`control_message`), so they are serialised with its events.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.keys import Keys
from router.timers import Clock, Completion, DueTimer, SystemClock, Timers
from sagas.batching import Coalescer
from sagas.consumer import ConsumerOptions, QueueConsumer, QueueMessage, raise_if_cancelling
from sagas.engine import ORPHAN, Input, decide
from sagas.errors import SagaError
from sagas.instance import Instance
from sagas.keys import SagaKeys, instance_key, shard_of
from sagas.machine import Definition
from sagas.outbox import OutboxDispatcher, timer_key
from sagas.publish import Publisher
from sagas.store import COMMITTED, CONFLICT, DUPLICATE, SagaStore

__all__ = ["CONTROL_MEMBER", "DUPLICATE_OUTCOME", "RuntimeHooks", "RuntimeOptions", "SagaRuntime", "control_message"]

log = logging.getLogger("switchboard.sagas")

CONTROL_MEMBER = "sagaControl"
"""A queue message whose body is `{"sagaControl": {"type", "id", "name", "controlId"}}` is an operator's input."""
DUPLICATE_OUTCOME = "duplicate"
OUTBOX_TIMER = "~outbox"
"""The timer that retries an outbox whose dispatch failed (timer names starting with `~` are the runtime's)."""
OUTBOX_RETRY_MS = 1_000
REJECTED_MAXLEN = 10_000
_DUE_TIMES_KEPT = 100_000
_REJECTED_BODY_BYTES = 65_536


def control_message(saga: str, instance_id: str, name: str) -> bytes:
    """The body of a control message for `name` (e.g. `resume`), to append to the saga's queue."""
    return orjson.dumps(
        {CONTROL_MEMBER: {"type": saga, "id": instance_id, "name": name, "controlId": str(uuid.uuid4())}}
    )


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    consumer: ConsumerOptions = field(default_factory=ConsumerOptions)
    timer_poll_interval_s: float = 0.5
    timer_lease_s: float = 30.0
    timer_batch: int = 200
    conflict_retries: int = 50
    history_limit: int = 500


@dataclass(frozen=True, slots=True)
class RuntimeHooks:
    """Test seams: `after_commit(definition, instance)` runs between a commit and its dispatch."""

    after_commit: Callable[[Definition, Instance], Awaitable[None]] | None = None


class _Locks:
    """One asyncio lock per instance while anybody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> Any:
        lock, users = self._locks.get(name, (asyncio.Lock(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users <= 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)


class SagaRuntime:
    def __init__(
        self,
        redis: aioredis.Redis,
        definitions: Sequence[Definition],
        publisher: Publisher,
        *,
        prefix: str = "sb",
        clock: Clock | None = None,
        options: RuntimeOptions | None = None,
        hooks: RuntimeHooks | None = None,
    ) -> None:
        names = [d.name for d in definitions]
        queues = [d.queue for d in definitions]
        if len(set(names)) != len(names) or len(set(queues)) != len(queues):
            raise SagaError("each saga type, and each saga's queue, may appear once in a runtime")
        self.redis = redis
        self.definitions: dict[str, Definition] = {d.name: d for d in definitions}
        self.publisher = publisher
        self.keys = SagaKeys(prefix)
        self.router_keys = Keys(prefix)
        self.clock = clock or SystemClock()
        self.options = options or RuntimeOptions()
        self.hooks = hooks or RuntimeHooks()
        self.batch = Coalescer(redis)
        self.store = SagaStore(redis, self.keys, history_limit=self.options.history_limit, batch=self.batch)
        self.timers = Timers(redis, self.router_keys)
        self.dispatcher = OutboxDispatcher(
            redis,
            store=self.store,
            keys=self.keys,
            router_keys=self.router_keys,
            timers=self.timers,
            publisher=publisher,
        )
        self.consumers = [
            QueueConsumer(
                redis,
                self.router_keys.queue(d.queue),
                f"sagas-{d.name}",
                self._message_handler(d),
                options=self.options.consumer,
                on_poison=self._poison_handler(d),
                batch=self.batch,
            )
            for d in definitions
        ]
        self._locks = _Locks()
        self._timer_task: asyncio.Task[None] | None = None
        self._timer_wakeup = asyncio.Event()
        self._due: list[tuple[int, str, str]] = []
        """(due ms, owner, timer key) of the timers this process scheduled, a heap; entries of timers cancelled or
        rescheduled since are dropped when they come up (`_due_at` no longer names them)."""
        self._due_at: dict[tuple[str, str], int] = {}
        self._sleep_until_ms = 0
        self._next_poll = 0.0
        self.outcomes: dict[str, int] = {}
        """Inputs handled by this process, by outcome (applied, ignored, stale, orphan, duplicate, ...)."""

    # life cycle ---------------------------------------------------------------------------------------------
    async def register(self) -> None:
        """Describe every definition in `sb:{meta}:saga-types`, for `switchboard saga` and the pages."""
        now = int(time.time() * 1000)
        mapping = {name: orjson.dumps({**d.describe(), "registered_ms": now}) for name, d in self.definitions.items()}
        await self.redis.hset(self.keys.types, mapping=mapping)  # type: ignore[arg-type]

    async def start(self) -> None:
        await self.register()
        for consumer in self.consumers:
            await consumer.start()
        if self._timer_task is None:
            self._timer_task = asyncio.create_task(self._timer_loop(), name="saga timers")

    async def stop(self) -> None:
        task, self._timer_task = self._timer_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for consumer in self.consumers:
            await consumer.stop()

    async def __aenter__(self) -> SagaRuntime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # inputs -------------------------------------------------------------------------------------------------
    async def deliver(self, saga: str, event: Mapping[str, Any], delivery_id: str | None = None) -> str:
        """Handle one event directly (without a queue); returns the outcome."""
        definition = self.definitions[saga]
        instance_id = definition.correlation(event)
        if instance_id is None:
            return ORPHAN
        return await self._process(definition, instance_id, Input.from_event(event, delivery_id))

    async def control(self, saga: str, instance_id: str, name: str, control_id: str | None = None) -> str:
        return await self._process(
            self.definitions[saga], instance_id, Input.from_control(name, control_id or str(uuid.uuid4()))
        )

    def _message_handler(self, definition: Definition) -> Callable[[QueueMessage], Awaitable[bool]]:
        async def handle(message: QueueMessage) -> bool:
            return await self._on_message(definition, message)

        return handle

    def _poison_handler(self, definition: Definition) -> Callable[[QueueMessage], Awaitable[None]]:
        async def poison(message: QueueMessage) -> None:
            await self._reject(definition, message, f"delivered {message.deliveries} times without being handled")

        return poison

    async def _on_message(self, definition: Definition, message: QueueMessage) -> bool:
        try:
            body = orjson.loads(message.body)
        except orjson.JSONDecodeError:
            await self._reject(definition, message, "the message body is not JSON")
            return True
        if not isinstance(body, dict):
            await self._reject(definition, message, "the message body is not a JSON object")
            return True
        control = body.get(CONTROL_MEMBER)
        if isinstance(control, dict):
            if control.get("type") != definition.name or not isinstance(control.get("id"), str):
                await self._reject(definition, message, "a control message for another saga type, or without id")
                return True
            control_id = str(control.get("controlId") or message.delivery_id or message.entry_id.decode())
            await self._process(definition, control["id"], Input.from_control(str(control.get("name")), control_id))
            return True
        instance_id = definition.correlation(body)
        if instance_id is None:
            await self._reject(definition, message, f"no correlation key ({definition.correlate!r}) in the event")
            return True
        await self._process(definition, instance_id, Input.from_event(body, message.delivery_id))
        return True

    async def _reject(self, definition: Definition, message: QueueMessage, reason: str) -> None:
        log.warning("saga %s: message %s rejected: %s", definition.name, message.entry_id.decode(), reason)
        fields = {
            "reason": reason,
            "body": message.body[:_REJECTED_BODY_BYTES],
            "delivery_id": message.delivery_id or "",
            "entry_id": message.entry_id,
            "at_ms": str(await self.clock.now_ms()),
        }
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self.keys.rejected(definition.name), fields, maxlen=REJECTED_MAXLEN, approximate=True)  # type: ignore[arg-type]
            pipe.hincrby(self.keys.counters(definition.name, 0), "rejected", 1)
            await pipe.execute()
        self._outcome("rejected")

    # timers -------------------------------------------------------------------------------------------------
    def wake_timers(self) -> None:
        """Look for due timers on every shard now, not at the next poll."""
        self._next_poll = 0.0
        self._timer_wakeup.set()

    async def fire_due_timers(self, owners: Sequence[str] | None = None) -> int:
        """Claim and handle every due timer of this runtime's sagas (or of `owners`) once; returns how many
        completed."""
        now_ms = await self.clock.now_ms()
        if owners is None:
            owners = [SagaKeys.timer_owner(d.name, n) for d in self.definitions.values() for n in range(d.shards)]
        done = await asyncio.gather(*(self._fire_owner(owner, now_ms) for owner in owners))
        return sum(done)

    async def _fire_owner(self, owner: str, now_ms: int) -> int:
        lease_ms = int(self.options.timer_lease_s * 1000)
        done = 0
        while True:
            claimed = await self.timers.claim(owner, now_ms, lease_ms, self.options.timer_batch)
            results = await asyncio.gather(*(self._fire(timer) for timer in claimed))
            done += sum(results)
            if len(claimed) < self.options.timer_batch:
                return done

    async def _fire(self, timer: DueTimer) -> int:
        try:
            completion = await self._on_timer(timer)
        except asyncio.CancelledError:
            raise
        except Exception:  # the claim stays: after the lease the timer is due again
            log.exception("saga timer %s/%s failed (attempt %d)", timer.owner, timer.key, timer.attempt)
            return 0
        if completion is None:
            return 0
        return 1 if await self.timers.complete(timer, completion) == 1 else 0

    async def _on_timer(self, timer: DueTimer) -> Completion | None:
        _, saga, _ = timer.owner.split(":", 2)
        definition = self.definitions.get(saga)
        if definition is None:
            return None
        key, _, name = timer.key.rpartition("|")
        if name == OUTBOX_TIMER:
            return await self._retry_outbox(definition, key, timer)
        try:
            gen = int(orjson.loads(timer.payload)["gen"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("saga timer %s/%s: payload is not a generation; dropped", timer.owner, timer.key)
            return Completion()
        await self._process(definition, None, Input.from_timer(name, gen), key=key)
        return Completion()

    def _note_timers(self, saga: str, instance_key: str, shards: int, messages: Sequence[dict[str, Any]]) -> None:
        """Timers this process just scheduled or cancelled: the timer loop wakes when a live one is due (and claims
        its shard only), not at its next poll; a cancelled one wakes nothing."""
        for message in messages:
            if message["kind"] not in ("timer", "cancel"):
                continue
            owner = SagaKeys.timer_owner(saga, shard_of(instance_key, shards))
            name = (owner, timer_key(instance_key, message["name"]))
            if message["kind"] == "cancel":
                self._due_at.pop(name, None)
                continue
            due_ms = int(message["due_ms"])
            if len(self._due_at) >= _DUE_TIMES_KEPT:
                continue  # so many pending: the poll finds the rest
            self._due_at[name] = due_ms
            heapq.heappush(self._due, (due_ms, *name))
            if due_ms < self._sleep_until_ms:
                self._timer_wakeup.set()

    def _due_owners(self, now_ms: int) -> set[str]:
        """The shards with a timer this process scheduled that is due now (and still pending, as far as it knows)."""
        owners: set[str] = set()
        while self._due and self._due[0][0] <= now_ms:
            due_ms, owner, key = heapq.heappop(self._due)
            if self._due_at.get((owner, key)) == due_ms:
                del self._due_at[(owner, key)]
                owners.add(owner)
        return owners

    async def _timer_loop(self) -> None:
        """Every poll interval, claim what is due on every shard (timers other processes scheduled, or due again
        after a lease); in between, wake when a timer this process scheduled is due and claim its shard."""
        poll_s = self.options.timer_poll_interval_s
        while True:
            try:
                now_ms = await self.clock.now_ms()
                due = self._due_owners(now_ms)
                if time.monotonic() >= self._next_poll:  # (wall time: a test's manual clock may stand still)
                    self._next_poll = time.monotonic() + poll_s
                    await self.fire_due_timers()
                elif due:
                    await self.fire_due_timers(sorted(due))
                now_ms = await self.clock.now_ms()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as err:
                raise_if_cancelling()  # redis-py can turn a cancellation into a connection error
                log.warning("saga timers: redis unavailable, retrying: %s", err)
                now_ms = int(time.time() * 1000)
            except Exception:
                log.exception("saga timers: unexpected error")
                now_ms = int(time.time() * 1000)
            self._timer_wakeup.clear()
            wait_s = max(0.001, min(self._next_poll - time.monotonic(), poll_s))
            while self._due and self._due_at.get((self._due[0][1], self._due[0][2])) != self._due[0][0]:
                heapq.heappop(self._due)  # cancelled or rescheduled meanwhile
            if self._due:
                wait_s = min(wait_s, max(0.001, (self._due[0][0] - now_ms) / 1000))
            self._sleep_until_ms = now_ms + int(wait_s * 1000)
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: 3.11's wait_for can swallow a stop's cancel
                async with asyncio.timeout(wait_s):
                    await self._timer_wakeup.wait()
            self._sleep_until_ms = 0

    # the core -----------------------------------------------------------------------------------------------
    def _outcome(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    async def _process(
        self, definition: Definition, instance_id: str | None, inp: Input, *, key: str | None = None
    ) -> str:
        saga = definition.name
        if key is None:
            assert instance_id is not None
            key = instance_key(instance_id)
        async with self._locks.hold(f"{saga}|{key}"):
            for attempt in range(self.options.conflict_retries):
                instance, duplicate = await self.store.load(saga, key, inp.ids)
                if duplicate and instance is not None:  # (seen ids without a state cannot happen: not a duplicate)
                    await self._duplicate(definition, instance)
                    return DUPLICATE_OUTCOME
                now_ms = await self.clock.now_ms()
                decision = decide(
                    definition,
                    instance,
                    inp,
                    now_ms=now_ms,
                    instance_id=instance_id or (instance.id if instance is not None else key),
                    instance_key=key,
                )
                if not decision.commit or decision.instance is None:
                    if decision.outcome == ORPHAN:
                        await self.store.count(saga, shard_of(key, definition.shards), "orphans")
                    self._outcome(decision.outcome)
                    return decision.outcome
                result = await self.store.commit(decision, instance.version if instance is not None else 0)
                if result == DUPLICATE:
                    # Another handling of this input committed first (a copy claimed from a slow consumer, a
                    # client's retry of this commit) and may have died before dispatching: its messages are in the
                    # outbox, and this handling may be the last one of the input, so it sends them. (Returning here
                    # without that, when the input had started the instance, lost the instance's first messages.)
                    committed = await self.store.get(saga, key)
                    if committed is None:
                        raise SagaError(f"saga {saga}/{key}: the input was committed, but the instance is not there")
                    await self._duplicate(definition, committed)
                    return DUPLICATE_OUTCOME
                if result == CONFLICT:
                    await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                    continue
                if self.hooks.after_commit is not None:
                    await self.hooks.after_commit(definition, decision.instance)
                pending = decision.messages if result == COMMITTED else await self.store.outbox(saga, key)
                await self._dispatch(definition, decision.instance, pending, now_ms)
                self._outcome(decision.outcome)
                return decision.outcome
        raise SagaError(f"saga {saga}/{key}: still conflicting after {self.options.conflict_retries} attempts")

    async def _duplicate(self, definition: Definition, instance: Instance) -> None:
        """A redelivered or replayed input: no decision, but whatever its first handling left is dispatched."""
        await self.store.count(definition.name, shard_of(instance.key, definition.shards), "duplicates")
        pending = await self.store.outbox(definition.name, instance.key)
        await self._dispatch(definition, instance, pending, await self.clock.now_ms())
        self._outcome(DUPLICATE_OUTCOME)

    async def _dispatch(
        self, definition: Definition, instance: Instance, messages: Sequence[dict[str, Any]], now_ms: int
    ) -> None:
        try:
            await self.dispatcher.dispatch(
                definition.name, instance.key, definition.shards, messages, now_ms=now_ms, index=instance
            )
        except Exception:
            await self._schedule_outbox_retry(definition, instance.key, now_ms)
            raise
        self._note_timers(definition.name, instance.key, definition.shards, messages)

    async def _schedule_outbox_retry(self, definition: Definition, key: str, now_ms: int) -> None:
        """An outbox whose dispatch failed is retried by a timer too, so it goes out even when its input is given
        up on (a poison message) and nothing else ever touches the instance."""
        owner = SagaKeys.timer_owner(definition.name, shard_of(key, definition.shards))
        with contextlib.suppress(RedisError, OSError):  # the input is redelivered anyway
            await self.timers.schedule(owner, timer_key(key, OUTBOX_TIMER), now_ms + OUTBOX_RETRY_MS, b"{}")

    async def _retry_outbox(self, definition: Definition, key: str, timer: DueTimer) -> Completion:
        instance = await self.store.get(definition.name, key)
        pending = await self.store.outbox(definition.name, key)
        if instance is None or not pending:
            return Completion()
        now_ms = await self.clock.now_ms()
        async with self._locks.hold(f"{definition.name}|{key}"):
            try:
                await self.dispatcher.dispatch(
                    definition.name, key, definition.shards, pending, now_ms=now_ms, index=instance
                )
            except Exception as err:
                log.warning("saga %s/%s: outbox still not dispatched (%s); retrying", definition.name, key, err)
                delay = min(OUTBOX_RETRY_MS * 2 ** min(timer.attempt, 6), 300_000)
                return Completion(reschedule=(now_ms + delay, timer.payload))
        return Completion()

    # reading ------------------------------------------------------------------------------------------------
    async def instance(self, saga: str, instance_id: str) -> Instance | None:
        return await self.store.get(saga, instance_key(instance_id))

    async def pending_outbox(self, saga: str, instance_id: str) -> list[dict[str, Any]]:
        return await self.store.outbox(saga, instance_key(instance_id))
