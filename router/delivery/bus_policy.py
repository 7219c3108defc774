"""Cross-account bus targets at delivery: does the destination bus's policy still let the rule's account put events?

PutTargets checks a target on another account's bus against that bus's resource policy (router.api.targets), but a
policy can change afterwards (RemovePermission, a new `Policy`, the bus deleted and created again). So, as on AWS,
every delivery of an event to another account's bus is authorized again: `PolicyCache.allowed` answers, for each
(destination bus, source account) of a batch, whether the destination bus's current policy allows the source
account `events:PutEvents` on it (router.policies `allows`). A refusal is a failed invocation that is not retried
(AWS: "errors that result from missing permissions ... no retry attempts"): NO_PERMISSIONS with IAM's
AccessDeniedException text, to the target's DLQ when it has one, counted in FailedInvocations.

Cheap by construction: a target on a bus of the rule's own account is never checked (the check costs nothing but
comparing two account ids), and a cross-account batch costs one `HMGET` of the bus registry (`sb:{meta}:buses`, one
key, one slot) for all of its destination buses. The compiled answer is cached per destination bus with the exact
record bytes it was computed from, so it is reused while the record is unchanged and recomputed as soon as it
differs: any change to the policy (from any router process) is seen by the next delivery, with no invalidation
messages, TTLs or version keys. A bus that no longer exists allows nothing (AWS: the caller cannot see another
account's buses).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis

from router.keys import Keys
from router.policies import PUT_EVENTS_ACTION, allows

__all__ = ["PolicyCache"]

_MAX_BUSES = 4096
"""Destination buses whose compiled policy is kept (the cache is emptied when it would hold more)."""


@dataclass(slots=True)
class _Compiled:
    raw: bytes | None
    """The registry record the answers were computed from (None: the bus does not exist)."""
    policy: dict[str, object] | None
    resource: str
    answers: dict[str, bool] = field(default_factory=dict)
    """Source account -> allowed."""

    def allows(self, account: str) -> bool:
        found = self.answers.get(account)
        if found is None:
            found = self.answers[account] = allows(self.policy, account, PUT_EVENTS_ACTION, self.resource)
        return found


class PolicyCache:
    """Destination bus (key-layout name) -> its compiled policy, checked against the registry on every use."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._compiled: dict[str, _Compiled] = {}
        self.reads = 0
        """Registry reads made (one per batch with a cross-account target; for tests and benchmarks)."""
        self.compilations = 0
        """Records parsed (once per destination bus and record version)."""

    async def allowed(self, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        """For each (destination bus key-layout name, source account): whether the bus's current policy allows it.
        Raises what redis-py raises when the registry cannot be read (the caller retries those deliveries)."""
        pairs = sorted(set(wanted))
        if not pairs:
            return {}
        buses = sorted({bus for bus, _ in pairs})
        self.reads += 1
        raws = await self.redis.hmget(self.keys.buses, buses)
        compiled = {bus: self._current(bus, raw) for bus, raw in zip(buses, raws, strict=True)}
        return {(bus, account): compiled[bus].allows(account) for bus, account in pairs}

    def _current(self, bus: str, raw: bytes | str | None) -> _Compiled:
        data = raw.encode() if isinstance(raw, str) else raw
        found = self._compiled.get(bus)
        if found is not None and found.raw == data:
            return found
        self.compilations += 1
        policy: dict[str, object] | None = None
        resource = ""
        if data is not None:
            try:
                record = orjson.loads(data)
            except orjson.JSONDecodeError:
                record = None
            if isinstance(record, dict):
                found_policy = record.get("Policy")
                policy = found_policy if isinstance(found_policy, dict) else None
                resource = str(record.get("Arn") or "")
        if len(self._compiled) >= _MAX_BUSES:
            self._compiled.clear()
        made = self._compiled[bus] = _Compiled(data, policy, resource)
        return made
