"""The delivery worker: every router process runs one; together they share every bus's delivery jobs.

Per bus (found in the bus registry, like the ingest worker does) two tasks:

- the reader: for each lane (one per job stream `sb:{bus:B}:deliveries:R:T`, listed in `sb:{bus:B}:delivery-lanes`)
  with free room, one pipelined round trip of non-blocking `XREADGROUP delivery <consumer> COUNT <room>`; when that
  finds nothing, one blocking `XREADGROUP ... BLOCK` over all those lanes. A lane without room is left out, so a slow
  target's backlog stays in Redis and never delays the reads of the others. Consumers are named per process
  (`host:pid:random`), so several processes split the jobs and, in the normal case, none is delivered twice.
- maintenance: picks up new lanes (creating the consumer group), moves due retries from the retry set back into
  their streams (router.delivery.scripts.MOVE_DUE), and takes over jobs that another consumer has held for longer
  than the visibility timeout (`XAUTOCLAIM`: its process died, e.g. kill -9). That is what makes delivery at least
  once: a job leaves its stream only in the settle script, after its outcome is safe.

The clock is injectable (retry due times, event age), and so is the backoff, so tests run retries in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from router.delivery.jobs import Job, parse_job
from router.delivery.lanes import Lane, LaneContext
from router.delivery.scripts import MOVE_DUE
from router.keys import Keys

log = logging.getLogger("switchboard.delivery")

__all__ = ["DeliveryWorker", "WorkerOptions"]


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    visibility_timeout_s: float = 30.0
    block_ms: int = 200
    maintenance_interval_s: float = 0.05
    lanes_refresh_s: float = 0.5
    claim_interval_s: float = 1.0
    discovery_interval_s: float = 0.5
    retry_move_batch: int = 500
    error_backoff_s: float = 0.5


class DeliveryWorker:
    def __init__(self, redis: aioredis.Redis, keys: Keys, ctx: LaneContext, options: WorkerOptions) -> None:
        self.redis = redis
        self.keys = keys
        self.ctx = ctx
        self.options = options
        self._move = redis.register_script(MOVE_DUE)
        self._buses: dict[str, _BusDelivery] = {}
        self._discovery: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._discover_once()
        self._discovery = asyncio.create_task(self._discover_forever(), name="delivery-discovery")

    async def stop(self) -> None:
        tasks = [t for runner in self._buses.values() for t in runner.tasks]
        if self._discovery is not None:
            tasks.append(self._discovery)
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=5.0)
            if stuck:
                log.warning("delivery: %d tasks did not stop within 5 s", len(stuck))
        self._buses.clear()
        self._discovery = None

    async def _discover_forever(self) -> None:
        while True:
            raise_if_cancelling()
            await asyncio.sleep(self.options.discovery_interval_s)
            try:
                await self._discover_once()
            except (RedisConnectionError, RedisTimeoutError, OSError) as err:
                raise_if_cancelling()
                log.warning("delivery bus discovery failed, retrying: %s", err)

    async def _discover_once(self) -> None:
        names = {n.decode() if isinstance(n, bytes) else str(n) for n in await self.redis.hkeys(self.keys.buses)}
        # delivery owners that are not buses (EventBridge Scheduler's groups, router.schedules.scheduler)
        names |= {
            n.decode() if isinstance(n, bytes) else str(n) for n in await self.redis.smembers(self.keys.delivery_owners)
        }
        for bus in names - set(self._buses):
            runner = self._buses[bus] = _BusDelivery(self, bus)
            runner.tasks += [
                asyncio.create_task(_forever(runner.read_once, bus, self.options), name=f"delivery-read:{bus}"),
                asyncio.create_task(_forever(runner.maintain_once, bus, self.options), name=f"delivery-maint:{bus}"),
            ]
        for bus in set(self._buses) - names:
            for task in self._buses.pop(bus).tasks:
                task.cancel()


def raise_if_cancelling() -> None:
    """Raise a pending cancellation that a library swallowed or turned into another error (redis-py can, mid-call).

    Checked in every loop, so `stop()` always ends the worker's tasks."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _forever(step: Callable[[], Any], bus: str, options: WorkerOptions) -> None:
    while True:
        raise_if_cancelling()
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except (RedisConnectionError, RedisTimeoutError, OSError) as err:
            raise_if_cancelling()
            log.warning("bus %s: redis unavailable in delivery, retrying: %s", bus, err)
            await asyncio.sleep(options.error_backoff_s)
        except Exception:
            raise_if_cancelling()
            log.exception("bus %s: unexpected error in delivery", bus)
            await asyncio.sleep(options.error_backoff_s)


class _BusDelivery:
    def __init__(self, worker: DeliveryWorker, bus: str) -> None:
        self.worker = worker
        self.redis = worker.redis
        self.keys = worker.keys
        self.ctx = worker.ctx
        self.options = worker.options
        self.bus = bus
        self.lanes: dict[str, Lane] = {}
        self.tasks: list[asyncio.Task[None]] = []
        """The reader, the maintenance task and one task per lane."""
        self._claim_cursor: dict[str, bytes | str] = {}
        self._room = asyncio.Event()
        self._lanes_at = self._claim_at = -1e9
        self._prefix = f"{self.keys.bus_tag(bus)}:deliveries:"

    # reading ---------------------------------------------------------------------------------------------------
    async def read_once(self) -> None:
        if not self.lanes:
            await self._refresh_lanes()
            if not self.lanes:
                await asyncio.sleep(self.options.lanes_refresh_s)
                return
        open_lanes = [lane for lane in self.lanes.values() if lane.free > 0]
        if not open_lanes:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), timeout=self.options.block_ms / 1000)
            return
        consumer, group = self.ctx.consumer, self.ctx.group
        async with self.redis.pipeline(transaction=False) as pipe:
            for lane in open_lanes:
                pipe.xreadgroup(group, consumer, {lane.stream: ">"}, count=min(lane.free, self.ctx.batch_size))
            replies = await pipe.execute(raise_on_error=False)
        found = False
        for lane, reply in zip(open_lanes, replies, strict=True):
            if isinstance(reply, ResponseError):
                await self._ensure_group(lane.stream)
            elif reply:
                found = True
                self._dispatch(lane, reply[0][1])
        if found:
            return
        streams: dict[Any, Any] = {lane.stream: ">" for lane in open_lanes}
        try:
            blocked: Any = await self.redis.xreadgroup(group, consumer, streams, count=1, block=self.options.block_ms)
        except ResponseError as err:
            if "NOGROUP" not in str(err):
                raise
            for stream in streams:
                await self._ensure_group(stream)
            return
        for stream, entries in blocked or []:
            found_lane = self.lanes.get(stream.decode() if isinstance(stream, bytes) else stream)
            if found_lane is not None:
                self._dispatch(found_lane, entries)

    def _dispatch(self, lane: Lane, entries: list[tuple[bytes, dict[bytes, bytes] | None]]) -> None:
        jobs: list[Job] = []
        for entry_id, fields in entries:
            job = parse_job(entry_id, fields)
            if job is None:
                if fields:  # unreadable: acknowledge it away, with nothing counted (never retried forever)
                    log.warning("bus %s: job %r in %s is not readable; dropped", self.bus, entry_id, lane.stream)
                    asyncio.get_running_loop().create_task(self._drop(lane.stream, entry_id))
                continue
            jobs.append(job)
        lane.offer(jobs)

    async def _drop(self, stream: str, entry_id: bytes) -> None:
        await self.redis.xack(stream, self.ctx.group, entry_id)
        await self.redis.xdel(stream, entry_id)

    # maintenance -----------------------------------------------------------------------------------------------
    async def maintain_once(self) -> None:
        await asyncio.sleep(self.options.maintenance_interval_s)
        now = time.monotonic()
        if now - self._lanes_at >= self.options.lanes_refresh_s:
            await self._refresh_lanes()
        await self._move_due()
        if now - self._claim_at >= self.options.claim_interval_s:
            self._claim_at = now
            await self._claim_abandoned()

    async def _refresh_lanes(self) -> None:
        self._lanes_at = time.monotonic()
        members = await self.redis.smembers(self.keys.delivery_lanes(self.bus))
        for raw in members:
            stream = raw.decode() if isinstance(raw, bytes) else str(raw)
            if stream in self.lanes or not stream.startswith(self._prefix):
                continue
            rule, _, target_id = stream[len(self._prefix) :].partition(":")
            await self._ensure_group(stream)
            lane = Lane(self.ctx, self.bus, rule, target_id, stream=stream, on_free=self._room)
            self.lanes[stream] = lane
            self.tasks.append(asyncio.create_task(lane.run(), name=f"lane:{stream}"))

    async def _ensure_group(self, stream: str) -> None:
        try:
            await self.redis.xgroup_create(stream, self.ctx.group, id="0", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    async def _move_due(self) -> None:
        retries = self.keys.delivery_retries(self.bus)
        now_ms = int(self.ctx.clock() * 1000)
        found: Any = await self.redis.zrangebyscore(retries, "-inf", now_ms, start=0, num=self.options.retry_move_batch)
        members: list[bytes] = found
        if not members:
            return
        keys: list[str] = [retries]
        index: dict[str, int] = {}
        args: list[Any] = [len(members)]
        for member in members:
            parsed = orjson.loads(member)
            stream = parsed["s"]
            if stream not in index:
                keys.append(stream)
                index[stream] = len(keys)
            fields = [x for pair in parsed["f"].items() for x in pair]
            args += [member, index[stream], len(fields), *fields]
        await self.worker._move(keys=keys, args=args)

    async def _claim_abandoned(self) -> None:
        min_idle_ms = int(self.options.visibility_timeout_s * 1000)
        for lane in list(self.lanes.values()):
            if lane.free <= 0:
                continue
            try:
                reply = await self.redis.xautoclaim(
                    lane.stream,
                    self.ctx.group,
                    self.ctx.consumer,
                    min_idle_time=min_idle_ms,
                    start_id=self._claim_cursor.get(lane.stream, "0-0"),
                    count=lane.free,
                )
            except ResponseError as err:
                if "NOGROUP" in str(err):
                    await self._ensure_group(lane.stream)
                    continue
                raise
            self._claim_cursor[lane.stream] = reply[0]
            entries = [e for e in reply[1] if e[0] not in lane.held]
            if entries:
                log.info("bus %s: took over %d abandoned deliveries of %s", self.bus, len(entries), lane.stream)
                self._dispatch(lane, entries)
