"""A lane: one target's deliveries in one process: a bounded buffer, per-target concurrency, settlement.

The bus reader (router.delivery.worker) hands each lane the jobs it read from the lane's stream, never more than the
lane has room for, so a slow target's backlog stays in Redis, not in memory, and other lanes keep reading. A lane
delivers queue and bus jobs in batches (one batch in flight, up to `batch_size` jobs) and HTTP jobs one per request,
at most `concurrency` at a time. Each attempt then settles in one Lua script (router.delivery.scripts): success ->
ack; retryable failure -> the retry set, due after the backoff; given up -> the DLQ first (a queue, in another hash
slot, so: DLQ write, then ack; a crash in between sends it twice, never zero times), then ack.

Before an attempt the lane shapes the input (router.transform) and checks the event's age: a job whose event is
older than the target's MaximumEventAgeInSeconds goes to the DLQ without another attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.exceptions import RedisError

from router.delivery.dlq import dlq_message, dlq_queue, failure_of, has_dlq
from router.delivery.jobs import Job
from router.delivery.queues import QueueTransport
from router.delivery.retry import CONDITION_MAX_AGE, Backoff, Failure, RetryPolicy, decide, expired
from router.delivery.scripts import KIND_DLQ, KIND_DLQ_FAILED, KIND_DROPPED, KIND_RETRY, KIND_SUCCESS
from router.delivery.transports import Transport, Transports
from router.ingest import OFF_LOOP_BYTES
from router.keys import is_bus
from router.transform import InvocationContext, render_event

log = logging.getLogger("switchboard.delivery")

__all__ = ["Lane", "LaneContext", "shape_input", "shapes_input"]

_SHAPING = ("Input", "InputPath", "InputTransformer")


@dataclass(slots=True)
class LaneContext:
    """What every lane of a process shares."""

    transports: Transports
    dlq: QueueTransport
    settle: Callable[[list[str], list[Any]], Awaitable[Any]]
    """The SETTLE script: (keys, args) -> owned count."""
    consumer: str
    group: str
    counters_key: Callable[[str], str]
    retries_key: Callable[[str], str]
    rule_arn: Callable[[str, str], str]
    clock: Callable[[], float] = time.time
    backoff: Backoff = field(default_factory=Backoff)
    batch_size: int = 500
    concurrency: int = 16
    observe_start: Callable[[str, str, float], None] | None = None
    """(bus, rule, seconds from ingestion to the first attempt's start)."""


@dataclass(slots=True)
class _Outcome:
    job: Job
    kind: str
    attempt: int
    due_ms: int = 0
    member: bytes = b""


def shapes_input(target: dict[str, Any]) -> bool:
    """Whether the target has Input, InputPath or InputTransformer (else it receives the event as ingested)."""
    return any(target.get(name) is not None for name in _SHAPING)


def shape_input(target: dict[str, Any], event: bytes, rule_arn: str, rule: str, ingest_ms: int) -> bytes | None:
    """The target's input for `event` (router.transform); None when an InputPath selects nothing."""
    if not shapes_input(target):
        return event
    ingested = datetime.fromtimestamp(ingest_ms / 1000, UTC)
    return render_event(target, event, InvocationContext(rule_arn, rule, ingested))


def _raise_if_cancelling() -> None:
    """Re-raise a cancellation that a library turned into another error (redis-py can, mid-read)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Lane:
    def __init__(
        self, ctx: LaneContext, bus: str, rule: str, target_id: str, *, stream: str, on_free: Callable[[Lane], None]
    ) -> None:
        self.ctx = ctx
        self.bus, self.rule, self.target_id, self.stream = bus, rule, target_id, stream
        self.held: set[bytes] = set()
        self._buffer: deque[Job] = deque()
        self._wakeup = asyncio.Event()
        self._on_free = on_free
        """Called when an attempt ends and frees room (router.delivery.worker then reads the lane again)."""
        self.maybe_more = True
        """The lane's stream may hold jobs not read yet (router.delivery.worker reads such lanes without blocking)."""
        self._http: asyncio.Semaphore = asyncio.Semaphore(ctx.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._batched = True
        self._rule_arn = ctx.rule_arn(bus, rule) if is_bus(bus) else ""
        """The rule's ARN; none for an owner that is not a bus (a Scheduler group's jobs come from schedules: their
        dead-letter attributes name the schedule, router.delivery.dlq)."""

    @property
    def capacity(self) -> int:
        return 2 * self.ctx.batch_size if self._batched else 2 * self.ctx.concurrency

    @property
    def free(self) -> int:
        return self.capacity - len(self.held)

    def offer(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if job.entry_id not in self.held:
                self.held.add(job.entry_id)
                self._buffer.append(job)
        if self._buffer:
            self._batched = self.ctx.transports.for_arn(str(self._buffer[-1].target.get("Arn", ""))).batched
            self._wakeup.set()

    async def run(self) -> None:
        try:
            while True:
                _raise_if_cancelling()
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._buffer:
                    head = self._buffer[0]
                    transport = self.ctx.transports.for_arn(str(head.target.get("Arn", "")))
                    if transport.batched:
                        batch = [self._buffer.popleft()]
                        while self._buffer and len(batch) < self.ctx.batch_size:
                            batch.append(self._buffer.popleft())
                        await self._attempt(transport, batch)
                    else:
                        await self._http.acquire()
                        task = asyncio.create_task(self._attempt_one(transport, self._buffer.popleft()))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _attempt_one(self, transport: Transport, job: Job) -> None:
        try:
            await self._attempt(transport, [job])
        finally:
            self._http.release()

    async def _attempt(self, transport: Transport, jobs: list[Job]) -> None:
        try:
            outcomes = await self._deliver(transport, jobs)
            await self._settle(outcomes)
        except asyncio.CancelledError:
            raise
        except (RedisError, OSError) as err:  # jobs stay pending: redelivered after the visibility timeout
            _raise_if_cancelling()
            log.warning(
                "bus %s rule %s target %s: settling failed, will redeliver: %s",
                self.bus,
                self.rule,
                self.target_id,
                err,
            )
        except Exception:
            _raise_if_cancelling()
            log.exception("bus %s rule %s target %s: delivery failed unexpectedly", self.bus, self.rule, self.target_id)
        finally:
            for job in jobs:
                self.held.discard(job.entry_id)
            self._on_free(self)

    async def _deliver(self, transport: Transport, jobs: list[Job]) -> list[_Outcome]:
        ctx = self.ctx
        now_ms = int(ctx.clock() * 1000)
        outcomes: list[_Outcome] = []
        ready: list[Job] = []
        for job in jobs:
            policy = RetryPolicy.of(job.target)
            if expired(job.ingest_ms, now_ms, policy):
                outcomes.append(await self._give_up(job, failure_of(job.error), CONDITION_MAX_AGE, job.attempts, 0))
                continue
            try:
                if len(job.event) > OFF_LOOP_BYTES and shapes_input(job.target):  # never long on the event loop
                    job.payload = await asyncio.to_thread(self._shape, job)
                else:
                    job.payload = self._shape(job)
            except Exception as err:  # a stored transformer the event cannot satisfy: not retried
                outcomes.append(
                    await self._give_up(job, Failure("INPUT_ERROR", str(err), False), None, job.attempts, 0)
                )
                continue
            if job.attempts == 0 and ctx.observe_start is not None:
                ctx.observe_start(self.bus, self.rule, max(now_ms - job.ingest_ms, 0) / 1000)
            ready.append(job)
        if not ready:
            return outcomes
        results = await transport.deliver(ready)
        now_ms = int(ctx.clock() * 1000)
        for job, failure in zip(ready, results, strict=True):
            attempt = job.attempts + 1
            if failure is None:
                outcomes.append(_Outcome(job, KIND_SUCCESS, attempt))
                continue
            decision = decide(
                failure,
                attempt,
                ingest_ms=job.ingest_ms,
                now_ms=now_ms,
                policy=RetryPolicy.of(job.target),
                backoff=ctx.backoff,
            )
            if decision.due_ms is not None:
                fields = job.fields(attempts=attempt, error=f"{failure.code} {failure.message}")
                member = orjson.dumps({"s": self.stream, "f": fields})
                outcomes.append(_Outcome(job, KIND_RETRY, attempt, decision.due_ms, member))
            else:
                outcomes.append(await self._give_up(job, failure, decision.condition, attempt, attempt))
        return outcomes

    def _shape(self, job: Job) -> bytes | None:
        return shape_input(job.target, job.event, self._rule_arn, self.rule, job.ingest_ms)

    async def _give_up(
        self, job: Job, failure: Failure, condition: str | None, attempts_made: int, attempt: int
    ) -> _Outcome:
        log.info("delivery %s given up (%s: %s)", job.delivery_id, failure.code, failure.message)
        if not has_dlq(job.target):
            return _Outcome(job, KIND_DROPPED, attempt)
        queue = dlq_queue(job.target)
        if queue is None:
            return _Outcome(job, KIND_DLQ_FAILED, attempt)
        message = dlq_message(
            job,
            rule_arn=self._rule_arn,
            failure=failure,
            condition=condition,
            attempts_made=attempts_made,
            now_ms=int(time.time() * 1000),
        )
        try:
            await self.ctx.dlq.send([(queue, message)])
        except (RedisError, OSError) as err:
            log.warning("delivery %s: sending to the DLQ %s failed: %s", job.delivery_id, queue, err)
            return _Outcome(job, KIND_DLQ_FAILED, attempt)
        return _Outcome(job, KIND_DLQ, attempt)

    async def _settle(self, outcomes: list[_Outcome]) -> None:
        if not outcomes:
            return
        ctx = self.ctx
        args: list[Any] = [ctx.group, ctx.consumer, self.rule, len(outcomes)]
        for o in outcomes:
            args += [o.job.entry_id, o.kind, o.attempt, o.due_ms, o.member]
        keys = [self.stream, ctx.counters_key(self.bus), ctx.retries_key(self.bus)]
        await ctx.settle(keys, args)
