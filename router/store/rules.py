"""`RedisRuleStore`: a bus's rules (`sb:{b:N}:bus:B:rules`) and each rule's targets (`sb:{b:N}:bus:B:targets:R`).

Every change is one Lua script in the bus's hash slot that also checks the bus's `exists` marker and increments
`sb:{b:N}:bus:B:version`, the counter the ingest worker polls to reload the bus's rules. A rule write also records
the rule's name with that version in `sb:{b:N}:bus:B:rule-changes`, so a reader holding version v reads only the
rules changed since v (router.matchers; `RULES_SINCE`), never the whole hash. Rule changes are
check-and-set: read the record, compute the new one in Python (`mutate`), and let the script write it only if
the record is still what was read, so concurrent writers never lose an update. PutTargets counts the rule's
targets and writes them in one script, so a call that would make a sixth target stores nothing at all. Like the
bus store, a rule store is bound to one namespace (`within`): it takes bus names and keys them by the bus's
key-layout name (router.keys `Keys.scoped`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from router.errors import (
    InternalException,
    ResourceNotFoundException,
    ValidationException,
)
from router.keys import Keys
from router.namespace import Namespace, rebound
from router.quotas import limit_exceeded
from router.store.protocol import Record, RuleMutation
from router.store.scripts import CAS_ATTEMPTS, PUT_TARGETS, REMOVE_TARGETS, RULE_CAS, redis_errors, status

TARGETS_PER_RULE = 5
"""EventBridge's hard limit of targets on one rule (the default of settings `quotas.targets_per_rule`)."""


class RedisRuleStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        *,
        max_rules: int = 0,
        max_targets: int = TARGETS_PER_RULE,
        namespace: Namespace | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.namespace = namespace or keys.home
        self._max_rules = max_rules
        self._max_targets = max_targets
        self._cas = redis.register_script(RULE_CAS)
        self._put_targets = redis.register_script(PUT_TARGETS)
        self._remove_targets = redis.register_script(REMOVE_TARGETS)

    def within(self, namespace: Namespace) -> RedisRuleStore:
        """The same store for the buses of `namespace` (sharing its scripts)."""
        return rebound(self, namespace)

    def bus_id(self, bus: str) -> str:
        """The key-layout name of bus `bus` of the store's namespace (router.keys `Keys.scoped`)."""
        return self._keys.scoped(bus, self.namespace)

    _id = bus_id

    def _rule_keys(self, bus: str, rule: str) -> list[str]:
        k, bus_id = self._keys, self._id(bus)
        return [
            k.bus_exists(bus_id),
            k.rules(bus_id),
            k.targets(bus_id, rule),
            k.version(bus_id),
            k.rule_changes(bus_id),
        ]

    async def get(self, bus: str, name: str) -> Record | None:
        with redis_errors("read rule"):
            raw = await self._redis.hget(self._keys.rules(self._id(bus)), name)
        return _load(raw) if raw is not None else None

    async def all(self, bus: str) -> list[Record]:
        with redis_errors("list rules"):
            raw = await self._redis.hgetall(self._keys.rules(self._id(bus)))
        return [_load(value) for _, value in sorted(raw.items())]

    async def update(self, bus: str, name: str, mutate: RuleMutation, *, keep_targets: bool = True) -> Record | None:
        keys = self._rule_keys(bus, name)
        for _ in range(CAS_ATTEMPTS):
            with redis_errors("update rule"):
                raw = await self._redis.hget(self._keys.rules(self._id(bus)), name)
                new = mutate(_load(raw) if raw is not None else None)
                args = [name, raw or b"", orjson.dumps(new) if new is not None else b"", b"1" if keep_targets else b"0"]
                outcome = status(await self._cas(keys=keys, args=[*args, self._max_rules]))
            if outcome == "OK":
                return new
            if outcome == "LIMIT":
                raise limit_exceeded()
            if outcome == "NOBUS":
                raise ResourceNotFoundException(f"Event bus {bus} does not exist.")
            if outcome == "HASTARGETS":
                raise ValidationException("Rule can't be deleted since it has targets.")
        raise InternalException("The rule is being changed concurrently; try again.")

    async def put_targets(self, bus: str, rule: str, targets: Sequence[Record]) -> None:
        args: list[Any] = [rule, self._max_targets]
        for target in targets:
            args += [target["Id"], orjson.dumps(target)]
        with redis_errors("PutTargets"):
            outcome = status(await self._put_targets(keys=self._rule_keys(bus, rule), args=args))
        _raise_for(outcome, bus, rule)

    async def remove_targets(self, bus: str, rule: str, ids: Sequence[str]) -> None:
        with redis_errors("RemoveTargets"):
            outcome = status(await self._remove_targets(keys=self._rule_keys(bus, rule), args=[rule, *ids]))
        _raise_for(outcome, bus, rule)

    async def targets(self, bus: str, rule: str) -> list[Record]:
        with redis_errors("list targets"):
            raw = await self._redis.hgetall(self._keys.targets(self._id(bus), rule))
        return [_load(value) for _, value in sorted(raw.items())]

    async def targets_by_rule(self, bus: str, rules: Sequence[str]) -> dict[str, list[Record]]:
        with redis_errors("list targets"):
            async with self._redis.pipeline(transaction=False) as pipe:
                for rule in rules:
                    pipe.hgetall(self._keys.targets(self._id(bus), rule))
                results = await pipe.execute()
        return {rule: [_load(v) for _, v in sorted(raw.items())] for rule, raw in zip(rules, results, strict=True)}


def _raise_for(outcome: str, bus: str, rule: str) -> None:
    if outcome == "OK":
        return
    if outcome == "NOBUS":
        raise ResourceNotFoundException(f"Event bus {bus} does not exist.")
    if outcome == "NORULE":
        raise ResourceNotFoundException(f"Rule {rule} does not exist on EventBus {bus}.")
    if outcome == "LIMIT":
        raise limit_exceeded()
    raise InternalException(f"Unexpected storage answer {outcome!r}.")


def _load(raw: Any) -> Record:
    record: Record = orjson.loads(raw)
    return record
