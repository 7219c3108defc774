"""The delivery worker: every router process runs one; together they share every bus's delivery jobs.

Per bus *partition* (router.partitioned; all the job streams of a partition's buses share one hash slot) a reader,
and one maintenance task for all partitions:

- the reader: for each lane (one per job stream `sb:{b:N}:bus:B:deliveries:R:T`, listed in the partition's lanes set
  `sb:{b:N}:partition:delivery-lanes`) with free room that may have more jobs than it last got, one pipelined round
  trip of non-blocking `XREADGROUP delivery <consumer> COUNT <room>`; when no lane is known to have more, one
  blocking `XREADGROUP ... BLOCK` over all the lanes with room, on the partition's own connection
  (router.stream_reader). A lane without room is left out, so a slow target's backlog stays in Redis and never
  delays the reads of the others; when it gets room again the blocked read is interrupted and the lane read at
  once. Consumers are named per process (`host:pid:random`), so several processes split the jobs and, in the
  normal case, none is delivered twice.
- maintenance, every `maintenance_interval_s`, each step one pipelined round trip over all partitions: picks up new
  lanes (creating the consumer group; the lanes this process's sink adds in the next round, others within
  `lanes_refresh_s`), moves due retries from the partitions' retry sets back into their streams
  (router.delivery.scripts.MOVE_DUE; one ZRANGEBYSCORE per partition, however many buses it has), and, every
  `max(claim_interval_s, visibility_timeout_s / 10)`, takes over jobs that another consumer has held for longer than
  the visibility timeout (router.delivery.scripts.CLAIM_ABANDONED, one script per partition: its process died, e.g.
  kill -9). That is what makes delivery at least once: a job leaves
  its stream only in the settle script, after its outcome is safe.

The clock is injectable (retry due times, event age), and so is the backoff, so tests run retries in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

import orjson
from redis.exceptions import ResponseError

from router.delivery.jobs import Job, parse_job
from router.delivery.lanes import Lane, LaneContext
from router.delivery.scripts import CLAIM_ABANDONED, MOVE_DUE
from router.keys import Keys, bus_partition
from router.partitioned import Partition, PartitionedWorker, WorkerOptions, raise_if_cancelling
from router.redis_client import AnyRedis, run_script_many
from router.stream_reader import Entry

log = logging.getLogger("switchboard.delivery")

__all__ = ["DeliveryWorker", "WorkerOptions", "raise_if_cancelling"]


class DeliveryWorker(PartitionedWorker):
    role = "delivery"

    def __init__(self, redis: AnyRedis, keys: Keys, ctx: LaneContext, options: WorkerOptions) -> None:
        super().__init__(redis, keys, options, ctx.consumer)
        self.ctx = ctx
        self._move = redis.register_script(MOVE_DUE)
        self._claim = redis.register_script(CLAIM_ABANDONED)
        self._claim_at = -1e9

    async def bus_names(self) -> set[str]:
        """The buses, and the delivery owners that are not buses (EventBridge Scheduler's groups,
        router.schedules.scheduler): their job streams are bus-shaped, so they are served the same way."""
        names = await super().bus_names()
        owners = await self.redis.smembers(self.keys.delivery_owners)
        return names | {n.decode() if isinstance(n, bytes) else str(n) for n in owners}

    def lanes_added(self, bus: str, streams: list[str]) -> None:
        """The sink of this process added `streams` to a lanes set: pick them up now (not at the next refresh)."""
        partition = self.partitions.get(bus_partition(bus))
        if partition is not None and any(stream not in _lanes(partition) for stream in streams):
            partition.state["refresh"] = True  # the next maintenance round (within maintenance_interval_s)

    # reading ---------------------------------------------------------------------------------------------------
    async def run_once(self, partition: Partition) -> None:
        lanes = _lanes(partition)
        if not lanes:
            await _wait(partition.wake, self.options.block_ms / 1000)
            partition.wake.clear()
            return
        open_lanes = []
        for lane in lanes.values():
            if lane.free > 0:
                open_lanes.append(lane)
            else:
                lane.maybe_more = True  # left out of the next blocking read: read it eagerly once it has room
        eager = [lane for lane in open_lanes if lane.maybe_more]
        if eager:
            if await self._read_eagerly(eager):
                return
            open_lanes = [lane for lane in lanes.values() if lane.free > 0]
        streams: dict[str, str | bytes] = {lane.stream: ">" for lane in open_lanes}
        try:
            blocked = await self.blocking_read(partition, self.ctx.group, streams, 1, self.options.block_ms)
        except ResponseError as err:
            if "NOGROUP" not in str(err):
                raise
            for stream in streams:
                await self._ensure_group(stream)
            return
        for stream, entries in blocked:
            found = lanes.get(stream)
            if found is not None and entries:
                found.maybe_more = True  # COUNT 1: there may be more behind it
                self._dispatch(found, entries)

    async def _read_eagerly(self, eager: list[Lane]) -> bool:
        """Non-blocking reads of the lanes that may have more; whether any job came."""
        consumer, group = self.ctx.consumer, self.ctx.group
        counts = [min(lane.free, self.ctx.batch_size) for lane in eager]
        async with self.redis.pipeline(transaction=False) as pipe:
            for lane, count in zip(eager, counts, strict=True):
                pipe.xreadgroup(group, consumer, {lane.stream: ">"}, count=count)
            replies = await pipe.execute(raise_on_error=False)
        found = False
        for lane, count, reply in zip(eager, counts, replies, strict=True):
            if isinstance(reply, ResponseError):
                await self._ensure_group(lane.stream)
                continue
            entries = _entries(reply)
            lane.maybe_more = len(entries) >= count
            if entries:
                found = True
                self._dispatch(lane, entries)
        return found

    def _dispatch(self, lane: Lane, entries: list[Entry]) -> None:
        jobs: list[Job] = []
        for entry_id, fields in entries:
            job = parse_job(entry_id, fields, lane.bus)
            if job is None:
                if fields:  # unreadable: acknowledge it away, with nothing counted (never retried forever)
                    log.warning("bus %s: job %r in %s is not readable; dropped", lane.bus, entry_id, lane.stream)
                    asyncio.get_running_loop().create_task(self._drop(lane.stream, entry_id))
                continue
            jobs.append(job)
        lane.offer(jobs)

    async def _drop(self, stream: str, entry_id: bytes) -> None:
        await self.redis.xack(stream, self.ctx.group, entry_id)
        await self.redis.xdel(stream, entry_id)

    # maintenance: one task for all partitions, a few pipelined round trips per round ------------------------
    def maintenance_interval_s(self) -> float:
        return self.options.maintenance_interval_s

    async def maintain(self, partitions: list[Partition]) -> None:
        now = time.monotonic()
        refresh = [
            p
            for p in partitions
            if p.state.pop("refresh", False) or now - p.state.get("lanes_at", -1e9) >= self.options.lanes_refresh_s
        ]
        if refresh:
            await self._refresh_lanes(refresh)
        await self._move_due(partitions)
        claim_every_s = max(self.options.claim_interval_s, self.options.visibility_timeout_s / 10)
        if now - self._claim_at >= claim_every_s:
            self._claim_at = now
            await self._claim_abandoned(partitions)

    async def _refresh_lanes(self, partitions: list[Partition]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition in partitions:
                partition.state["lanes_at"] = time.monotonic()
                pipe.smembers(self.keys.partition_lanes(partition.number))
            replies = await pipe.execute()
        for partition, members in zip(partitions, replies, strict=True):
            lanes = _lanes(partition)
            added = False
            for raw in members:
                stream = raw.decode() if isinstance(raw, bytes) else str(raw)
                if stream in lanes:
                    continue
                parsed = self.keys.parse_deliveries(stream)
                if parsed is None:
                    continue
                bus, rule, target_id = parsed
                await self._ensure_group(stream)
                on_free = functools.partial(_on_room, partition)
                lane = Lane(self.ctx, bus, rule, target_id, stream=stream, on_free=on_free)
                lanes[stream] = lane
                partition.tasks.append(asyncio.create_task(lane.run(), name=f"lane:{stream}"))
                added = True
            if added:
                partition.wake.set()  # the blocked read does not cover the new lanes: start another one

    async def _ensure_group(self, stream: str) -> None:
        try:
            await self.redis.xgroup_create(stream, self.ctx.group, id="0", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    async def _move_due(self, partitions: list[Partition]) -> None:
        """Due retries of every partition: one pipelined ZRANGEBYSCORE per round, then MOVE_DUE where some are due."""
        if not partitions:
            return
        now_ms = int(self.ctx.clock() * 1000)
        batch = self.options.retry_move_batch
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition in partitions:
                pipe.zrangebyscore(self.keys.partition_retries(partition.number), "-inf", now_ms, start=0, num=batch)
            replies = await pipe.execute()
        for partition, members in zip(partitions, replies, strict=True):
            if not members:
                continue
            retries = self.keys.partition_retries(partition.number)
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
            await self._move(keys=keys, args=args)

    async def _claim_abandoned(self, partitions: list[Partition]) -> None:
        """Jobs held past the visibility timeout by another consumer: one claim script per partition, pipelined."""
        calls: list[tuple[list[str], list[Any]]] = []
        served: list[list[Lane]] = []
        min_idle_ms = int(self.options.visibility_timeout_s * 1000)
        for partition in partitions:
            lanes = [lane for lane in _lanes(partition).values() if lane.free > 0]
            if lanes:
                args = [self.ctx.group, self.ctx.consumer, min_idle_ms, *(lane.free for lane in lanes)]
                calls.append(([lane.stream for lane in lanes], args))
                served.append(lanes)
        results = await run_script_many(self.redis, self._claim, calls)
        for lanes, result in zip(served, results, strict=True):
            if isinstance(result, Exception):
                log.warning("delivery: claiming abandoned jobs failed: %s", result)
                continue
            claimed, missing = result
            for index in missing:
                await self._ensure_group(lanes[int(index) - 1].stream)
            for index, raw_entries in claimed:
                lane = lanes[int(index) - 1]
                entries: list[Entry] = [
                    (entry_id, dict(zip(flat[::2], flat[1::2], strict=True)) if flat else None)
                    for entry_id, flat in raw_entries
                    if entry_id not in lane.held
                ]
                if entries:
                    log.info("bus %s: took over %d abandoned deliveries of %s", lane.bus, len(entries), lane.stream)
                    self._dispatch(lane, entries)


def _lanes(partition: Partition) -> dict[str, Lane]:
    lanes: dict[str, Lane] = partition.state.setdefault("lanes", {})
    return lanes


def _on_room(partition: Partition, lane: Lane) -> None:
    if lane.maybe_more:
        partition.wake.set()  # the lane was left out of the blocked read, or has more waiting: read it now


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=timeout_s)


def _entries(reply: Any) -> list[Entry]:
    """The entries of a one-stream XREADGROUP reply as redis-py parses it (`[[stream, entries]]`, or empty)."""
    return list(reply[0][1]) if reply else []
