"""Event bus targets: `arn:aws:events:REGION:ACCOUNT:event-bus/NAME` puts the event into bus NAME.

The event is appended to the target bus's ingest log with PutEvents' script (router.backlog: the bus's `exists`
marker is checked in the same step, so a deleted bus gets NO_RESOURCE, not retried; a bus over its ingest backlog
bound gets THROTTLING, retried with backoff), keeping its `id` and every
field: the original event, whatever the target's input shaping says (an event bus receives events). The entry also
carries `hops`, the number of bus targets the event has passed through.

Loops are bounded: a rule on bus A targeting bus B, and one on B targeting A, would otherwise route one event
forever. An event that has already passed through `MAX_BUS_HOPS` (5) bus targets is not delivered again: the
delivery fails with LOOP_DETECTED (not retried; to the DLQ when one is set). So one PutEvents entry reaches at most
six buses along any path. A bus of another account or region is that namespace's bus (router.namespace): the event
goes there, as on AWS; PutTargets checked the other account's bus policy when the target was made.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.arns import Arns
from router.backlog import APPEND_SCRIPT, append_args, append_keys
from router.delivery.jobs import Job
from router.delivery.retry import Failure
from router.keys import Keys

__all__ = ["MAX_BUS_HOPS", "BusTransport"]

MAX_BUS_HOPS = 5


class BusTransport:
    batched = True

    def __init__(self, redis: aioredis.Redis, keys: Keys, arns: Arns, *, backlog_limit: int = 0) -> None:
        self.redis = redis
        self.keys = keys
        self.arns = arns
        self.backlog_limit = backlog_limit
        """The target buses' ingest backlog bound (settings.ingest_backlog_limit_events; router.backlog)."""
        self._append = redis.register_script(APPEND_SCRIPT)

    async def deliver(self, jobs: Sequence[Job]) -> list[Failure | None]:
        results: list[Failure | None] = [None] * len(jobs)
        by_bus: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            arn = str(job.target["Arn"])
            bus = self.keys.bus_of_arn(arn)  # any account's and region's bus (router.namespace)
            if bus is None:
                results[index] = Failure("NO_RESOURCE", f"Event bus {arn} does not exist in this router.", False)
            elif job.hops >= MAX_BUS_HOPS:
                results[index] = Failure(
                    "LOOP_DETECTED", f"The event already passed through {job.hops} event bus targets.", False
                )
            else:
                by_bus.setdefault(bus, []).append(index)
        for bus, indexes in by_bus.items():
            args = append_args(self.backlog_limit, [(jobs[index].event, jobs[index].hops + 1) for index in indexes])
            try:
                ids = await self._append(keys=append_keys(self.keys, bus), args=args)
            except (RedisError, OSError) as err:
                failure = Failure("CONNECTION_ERROR", f"append to bus {bus} failed: {err}", True)
                for index in indexes:
                    results[index] = failure
                continue
            if ids is None:
                name = self.keys.unscoped(bus)[1]
                for index in indexes:
                    results[index] = Failure("NO_RESOURCE", f"Event bus {name} does not exist.", False)
                continue
            throttled = Failure("THROTTLING", f"Event bus {bus} is over its ingest backlog limit: Rate exceeded", True)
            for position, index in enumerate(indexes):
                results[index] = None if position < len(ids) else throttled
        return results
