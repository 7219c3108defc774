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
goes there, as on AWS. A bus of another *account* must still allow the rule's account when the event is delivered,
not only when PutTargets made the target: each such delivery is authorized against the destination bus's current
policy (router.delivery.bus_policy; refused: NO_PERMISSIONS, not retried, to the DLQ). Those deliveries always take
this job path (router.delivery.sink does not make them inline); a target on a bus of the rule's own account is never
checked, so it costs what it always did.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.arns import Arns
from router.backlog import APPEND_SCRIPT, append_args, append_keys
from router.delivery.bus_policy import PolicyCache
from router.delivery.jobs import Job
from router.delivery.retry import Failure
from router.keys import Keys, is_bus
from router.namespace import parse_bus_arn
from router.policies import access_denied_message

__all__ = ["MAX_BUS_HOPS", "BusTransport", "cross_account"]

MAX_BUS_HOPS = 5


def cross_account(keys: Keys, source_bus: str, target_arn: str) -> bool:
    """Whether `target_arn` is a bus of another account than the bus (key-layout name) `source_bus` of the rule."""
    parsed = parse_bus_arn(target_arn)
    return parsed is not None and parsed.account != keys.unscoped(source_bus)[0].account_id


class BusTransport:
    batched = True

    def __init__(self, redis: aioredis.Redis, keys: Keys, arns: Arns, *, backlog_limit: int = 0) -> None:
        self.redis = redis
        self.keys = keys
        self.arns = arns
        self.backlog_limit = backlog_limit
        """The target buses' ingest backlog bound (settings.ingest_backlog_limit_events; router.backlog)."""
        self._append = redis.register_script(APPEND_SCRIPT)
        self.policies = PolicyCache(redis, keys)
        """The destination buses' compiled policies, for cross-account deliveries."""

    async def deliver(self, jobs: Sequence[Job]) -> list[Failure | None]:
        results: list[Failure | None] = [None] * len(jobs)
        by_bus: dict[str, list[int]] = {}
        checks: dict[int, tuple[str, str]] = {}
        """Job index -> (destination bus, source account) of the cross-account deliveries to authorize."""
        for index, job in enumerate(jobs):
            arn = str(job.target["Arn"])
            parsed = parse_bus_arn(arn)  # any account's and region's bus (router.namespace)
            if parsed is None:
                results[index] = Failure("NO_RESOURCE", f"Event bus {arn} does not exist in this router.", False)
                continue
            if job.hops >= MAX_BUS_HOPS:
                results[index] = Failure(
                    "LOOP_DETECTED", f"The event already passed through {job.hops} event bus targets.", False
                )
                continue
            bus = self.keys.scoped(parsed.name, parsed.namespace)
            # Only a rule's delivery into another account's bus is authorized here: an owner that is not a bus
            # (EventBridge Scheduler's) delivers with the schedule's IAM role, which bus policies do not govern.
            if is_bus(job.bus) and (source := self.keys.unscoped(job.bus)[0].account_id) != parsed.account:
                checks[index] = (bus, source)
            by_bus.setdefault(bus, []).append(index)
        if checks:
            await self._authorize(jobs, checks, results, by_bus)
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

    async def _authorize(
        self,
        jobs: Sequence[Job],
        checks: dict[int, tuple[str, str]],
        results: list[Failure | None],
        by_bus: dict[str, list[int]],
    ) -> None:
        """Fail the cross-account deliveries the destination bus's policy does not allow (not retried), and the
        ones whose policy could not be read (retried); drop both from `by_bus`."""
        refused: set[int] = set()
        try:
            answers = await self.policies.allowed(checks.values())
        except (RedisError, OSError) as err:
            failure = Failure("CONNECTION_ERROR", f"reading the event bus policy failed: {err}", True)
            for index in checks:
                results[index] = failure
            refused = set(checks)
        else:
            for index, pair in checks.items():
                if not answers[pair]:
                    message = access_denied_message(pair[1], str(jobs[index].target["Arn"]))
                    results[index] = Failure("NO_PERMISSIONS", message, False)
                    refused.add(index)
        if refused:
            for bus in list(by_bus):
                kept = [index for index in by_bus[bus] if index not in refused]
                if kept:
                    by_bus[bus] = kept
                else:
                    del by_bus[bus]
