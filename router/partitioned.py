"""What the ingest and the delivery workers share: buses grouped by partition, one loop per partition, its options.

Both workers (router.ingest, router.delivery.worker) find the buses in the bus registry (`sb:{meta}:buses`, read
every `discovery_interval_s`), group them by partition (router.keys: `bus_partition`), and run one task per partition
that has at least one bus. The task calls the worker's `run_once(partition)` in a loop: one round of reading,
processing and maintenance. An expected fault (Redis unreachable, a reply it cannot use) is logged and retried after
`error_backoff_s`; anything else is logged with its traceback and retried the same way, so no fault ends a loop
and no loop can hold up another. Each partition has one `StreamReader` (one dedicated connection, router.stream_reader)
for its blocking reads, and a `wake` event: setting it (new buses in the partition, new lanes, room in a lane,
stopping) interrupts a blocked read with `CLIENT UNBLOCK`, so a change takes effect at once instead of after the
blocking timeout.

`stop()` sets `stopping`, wakes and cancels every loop and waits for them; a cancellation that a library turned into
another error is re-raised by `raise_if_cancelling`, so stopping always ends the loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from router.keys import Keys, bus_partition
from router.redis_client import AnyRedis
from router.stream_reader import Entry, StreamReader

__all__ = ["LUA_CLAIM", "Partition", "PartitionedWorker", "WorkerOptions", "consumer_name", "raise_if_cancelling"]

log = logging.getLogger("switchboard.workers")


LUA_CLAIM = """
local function claim(stream, group, me, min_idle, room)
  local cursor, found = '0-0', {}
  for _ = 1, 10 do
    if room <= 0 then break end
    local claimed = redis.call('XAUTOCLAIM', stream, group, me, min_idle, cursor, 'COUNT', room)
    for _, entry in ipairs(claimed[2]) do
      found[#found + 1] = entry
      room = room - 1
    end
    cursor = claimed[1]
    if cursor == '0-0' then break end
  end
  return found, room
end
"""
"""A Lua function both workers' claim scripts start with: `claim(stream, group, me, min_idle, room)` takes over up to
`room` entries idle for at least `min_idle` ms (XAUTOCLAIM, following its cursor a bounded number of times) and
returns them and the room left."""


def consumer_name() -> str:
    """A consumer name unique to this process (`host:pid:random`), so processes share a consumer group's work."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """The knobs of both workers (each uses its part; the defaults are what `switchboard serve` runs)."""

    block_ms: int = 1000
    """How long one blocking read waits for new entries (changes interrupt it, so this only bounds idle rounds)."""
    batch_size: int = 500
    """Ingest: XREADGROUP COUNT per stream: an upper bound (a light load reads small batches); under a backlog,
    larger batches amortize the per-batch cost (delivery bench: fan-out +14% at 500 vs 100)."""
    discovery_interval_s: float = 0.5
    claim_interval_s: float = 1.0
    """How often entries abandoned by a dead consumer are looked for (and, for ingest, the stream trimmed)."""
    claim_min_idle_ms: int = 5000
    """Ingest: an event read but not acknowledged for this long is taken over by another process."""
    forget_consumer_idle_ms: int = 600_000
    """Ingest: consumers with nothing pending that have not read for this long are removed from the group."""
    match_attempts: int = 3
    """Ingest: how often an event whose matching fails with an internal error is tried before it is parked."""
    match_retry_delay_s: float = 0.1
    error_backoff_s: float = 0.5
    visibility_timeout_s: float = 30.0
    """Delivery: a job held (taken, not settled) for this long is taken over by another worker (its own died)."""
    maintenance_interval_s: float = 0.1
    """Delivery: how often due retries are moved back into their job streams."""
    lanes_refresh_s: float = 0.5
    """Delivery: how often the partition's lanes set is re-read (lanes made by this process are picked up at once)."""
    retry_move_batch: int = 500


def raise_if_cancelling() -> None:
    """Raise a pending cancellation that a library swallowed or turned into another error (redis-py can, mid-call)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass(eq=False)
class Partition:
    """One partition served by a worker: its buses, its blocking reader and its wake-up event."""

    number: int
    reader: StreamReader
    buses: set[str] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    """The partition's loops, and whatever else the worker runs for it (delivery lanes)."""
    state: dict[str, Any] = field(default_factory=dict)
    """What the worker keeps per partition (streams set up, lanes, next maintenance, ...)."""


class PartitionedWorker:
    """Base of the ingest and delivery workers: discovery, one loop per partition, interruptible blocking reads."""

    role = "worker"

    def __init__(
        self, redis: AnyRedis, keys: Keys, options: WorkerOptions | None = None, consumer: str | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.options = options or WorkerOptions()
        self.consumer = consumer or consumer_name()
        self.partitions: dict[int, Partition] = {}
        self._discovery: asyncio.Task[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._stopping = False

    # lifecycle ------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.discover_once()
        self._discovery = asyncio.create_task(self._discover_forever(), name=f"{self.role}-discovery")
        self._maintenance = asyncio.create_task(self._maintain_forever(), name=f"{self.role}-maintenance")

    async def stop(self) -> None:
        self._stopping = True
        tasks = [task for p in self.partitions.values() for task in p.tasks]
        tasks += [task for task in (self._discovery, self._maintenance) if task is not None]
        for partition in self.partitions.values():
            partition.wake.set()
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=5.0)
            if stuck:
                log.warning("%s: %d tasks did not stop within 5 s", self.role, len(stuck))
        for partition in self.partitions.values():
            await partition.reader.aclose()
        self.partitions.clear()
        self._discovery = self._maintenance = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def buses(self) -> frozenset[str]:
        return frozenset(bus for p in self.partitions.values() for bus in p.buses)

    # discovery ------------------------------------------------------------------------------------------------
    async def _discover_forever(self) -> None:
        while not self._stopping:
            raise_if_cancelling()
            await asyncio.sleep(self.options.discovery_interval_s)
            try:
                await self.discover_once()
            except (RedisError, OSError) as err:
                raise_if_cancelling()
                log.warning("%s: bus discovery failed, retrying: %s", self.role, err)

    async def bus_names(self) -> set[str]:
        """The buses to serve: the bus registry's (the delivery worker adds other delivery owners)."""
        names = await self.redis.hkeys(self.keys.buses)
        return {name.decode() if isinstance(name, bytes) else str(name) for name in names}

    async def discover_once(self) -> None:
        by_partition: dict[int, set[str]] = {}
        for bus in await self.bus_names():
            by_partition.setdefault(bus_partition(bus), set()).add(bus)
        for number, buses in by_partition.items():
            partition = self.partitions.get(number)
            if partition is None:
                reader = StreamReader(self.redis, self.keys.partition_tag(number), f"{self.role}:{number}")
                partition = self.partitions[number] = Partition(number, reader)
            if buses != partition.buses:
                added, removed = buses - partition.buses, partition.buses - buses
                partition.buses = set(buses)
                self.buses_changed(partition, added, removed)
                partition.wake.set()
            if not partition.tasks:
                for name, step in self.loops(partition):
                    task = asyncio.create_task(self._forever(partition, step), name=f"{self.role}-{name}:{number}")
                    partition.tasks.append(task)
        for number in set(self.partitions) - set(by_partition):
            partition = self.partitions.pop(number)
            self.buses_changed(partition, set(), partition.buses)
            for task in partition.tasks:
                task.cancel()
            asyncio.get_running_loop().create_task(partition.reader.aclose())

    def buses_changed(self, partition: Partition, added: set[str], removed: set[str]) -> None:
        """Called when a partition's buses change (before its loop runs again)."""

    # maintenance: one task for all partitions ----------------------------------------------------------------
    def maintenance_interval_s(self) -> float:
        return self.options.claim_interval_s

    async def maintain(self, partitions: list[Partition]) -> None:
        """One round of the worker's periodic work over all its partitions (pipelined: a few round trips)."""

    async def _maintain_forever(self) -> None:
        while True:
            raise_if_cancelling()
            if self._stopping:
                return
            await asyncio.sleep(self.maintenance_interval_s())
            try:
                await self.maintain(list(self.partitions.values()))
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as err:
                raise_if_cancelling()
                log.warning("%s: redis unavailable in maintenance, retrying: %s", self.role, err)
                await asyncio.sleep(self.options.error_backoff_s)
            except Exception:
                raise_if_cancelling()
                if self.stopping:
                    return
                log.exception("%s: unexpected error in maintenance", self.role)
                await asyncio.sleep(self.options.error_backoff_s)

    # one partition --------------------------------------------------------------------------------------------
    def loops(self, partition: Partition) -> list[tuple[str, Callable[[Partition], Awaitable[None]]]]:
        """The steps run forever for a partition, each in its own task: (name, step)."""
        return [("read", self.run_once)]

    async def _forever(self, partition: Partition, step: Callable[[Partition], Awaitable[None]]) -> None:
        while True:
            raise_if_cancelling()
            if self._stopping:
                return
            try:
                await step(partition)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as err:
                raise_if_cancelling()
                if self.stopping:
                    return
                log.warning("%s partition %d: redis unavailable, retrying: %s", self.role, partition.number, err)
                self.after_error(partition)
                await asyncio.sleep(self.options.error_backoff_s)
            except Exception:
                raise_if_cancelling()
                if self.stopping:
                    return
                log.exception("%s partition %d: unexpected error", self.role, partition.number)
                self.after_error(partition)
                await asyncio.sleep(self.options.error_backoff_s)

    async def run_once(self, partition: Partition) -> None:
        """One round of the partition's work (one blocking read and what it returned); IngestWorker and
        DeliveryWorker define it, the base class has no work of its own."""
        raise NotImplementedError

    def after_error(self, partition: Partition) -> None:
        """Called after a round failed (e.g. to set the partition's streams up again)."""

    async def blocking_read(
        self, partition: Partition, group: str, streams: dict[str, str | bytes], count: int, block_ms: int
    ) -> list[tuple[str, list[Entry]]]:
        """A blocking XREADGROUP on the partition's reader that `partition.wake` interrupts ([] when woken)."""
        if partition.wake.is_set() or self._stopping or not streams:
            partition.wake.clear()
            if not streams and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(partition.wake.wait(), timeout=block_ms / 1000)
                partition.wake.clear()
            return []
        reader = partition.reader
        read = asyncio.ensure_future(reader.xreadgroup(group, self.consumer, streams, count=count, block_ms=block_ms))
        woken = asyncio.ensure_future(partition.wake.wait())
        try:
            done, _ = await asyncio.wait({read, woken}, return_when=asyncio.FIRST_COMPLETED)
            if read not in done:
                await reader.interrupt(read)
            return await read
        finally:
            woken.cancel()
            if not read.done():
                read.cancel()
            partition.wake.clear()


def group_by(items: Iterable[tuple[str, Any]]) -> dict[str, list[Any]]:
    """{key: [values]} in first-seen order."""
    out: dict[str, list[Any]] = {}
    for key, value in items:
        out.setdefault(key, []).append(value)
    return out
