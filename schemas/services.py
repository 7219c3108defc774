"""The process's schema-registry services, kept in `AppState.extras` by the extension's start-up hook.

Handlers reach the store (and, once they run, the discovery and code-binding services) through `store(state)`,
never through globals, so tests can build an app per test against their own Redis. `store(state)` is bound to the
request's (account, region) namespace (router.namespace; the Schemas API enters it, schemas.api.protocol), and
`store(state, namespace)` to any other; `arns(state)` builds the request's namespace's ARNs.
"""

from __future__ import annotations

from router.namespace import Namespace
from router.state import AppState
from schemas.arns import SchemaArns
from schemas.keys import SchemaKeys
from schemas.store import RegistryStore

__all__ = ["EXTRAS_KEY", "arns", "store"]

EXTRAS_KEY = "schemas.store"


def arns(state: AppState) -> SchemaArns:
    return SchemaArns(state.region, state.account_id)


def store(state: AppState, namespace: Namespace | None = None) -> RegistryStore:
    """The process's registry store (created on first use), bound to `namespace` (default: the request's)."""
    found = state.extras.get(EXTRAS_KEY)
    if found is None:
        found = state.extras[EXTRAS_KEY] = RegistryStore(state.redis, SchemaKeys.of(state.keys), state.keys)
    registry: RegistryStore = found
    return registry.within(namespace or state.namespace)
