"""Where buses, rules and targets live: Redis, behind two small protocols.

The API handlers (`router.api.buses`, `rules`, `targets`, `tags`) talk to a `BusStore` and a `RuleStore`, never
to Redis directly, so the storage boundary is two narrow interfaces. The Redis implementations keep the layout
documented in `router.keys` (the ingest worker reads the same rule records), make every change one atomic,
single-slot step (Lua scripts or a check-and-set script) and translate Redis failures into `InternalException`.
`stores(state)` hands out the process's instances, bound to the request's (account, region) namespace.
"""

from __future__ import annotations

from router.namespace import Namespace
from router.state import AppState
from router.store.buses import RedisBusStore
from router.store.protocol import BusStore, RuleStore
from router.store.rules import TARGETS_PER_RULE, RedisRuleStore

__all__ = ["TARGETS_PER_RULE", "BusStore", "RedisBusStore", "RedisRuleStore", "RuleStore", "stores"]

_EXTRAS_KEY = "control_plane_stores"


def stores(state: AppState, namespace: Namespace | None = None) -> tuple[BusStore, RuleStore]:
    """The process's bus and rule stores of `namespace` (default: the request's, `state.namespace`), created on
    first use and kept in `state.extras`."""
    pair = state.extras.get(_EXTRAS_KEY)
    if pair is None:
        quotas = state.settings.quotas
        pair = (
            RedisBusStore(state.redis, state.keys, quotas.event_buses),
            RedisRuleStore(
                state.redis, state.keys, max_rules=quotas.rules_per_bus, max_targets=quotas.targets_per_rule
            ),
        )
        state.extras[_EXTRAS_KEY] = pair
    where = namespace or state.namespace
    buses: BusStore = pair[0].within(where)
    rules: RuleStore = pair[1].within(where)
    return buses, rules
