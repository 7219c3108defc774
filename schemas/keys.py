"""The schema registry's whole Redis key layout, in one place (the router's own layout is in `router.keys`).

Every key an operation changes together shares one hash tag, so each change is a single-slot Lua script and the
layout runs unchanged on Redis Cluster:

- `{prefix}:{schemas}:...`: account-wide records: the registry index, discoverers, the account's policy.
- `{prefix}:{registry:R}:...`: everything of registry R: its schemas, their versions, code bindings, its policy.
  Registry names match `[.\\-_A-Za-z0-9@]+` (checked by the API), so they never contain `{`, `}` or `:`.

**Namespaces** (accounts and regions, router.namespace): registries and discoverers live in an (account, region)
namespace like the events API's resources. R below is the registry's *key-layout name*: its name in the home
namespace (so data written before namespaces stays valid), `ACCOUNT@REGION@NAME` in any other (`registry_key`; the
API refuses a name that already has that form, so no home registry can take another namespace's keys). A registry
name may hold `@`, so R is read back with `split_registry`, not router.keys `Keys.unscoped`. Discoverer ids
(`events-event-bus-<bus>`, no `@`) are router.keys `Keys.scoped` names, and an account's policy has one key per
namespace: `sb:{schemas}:policy` at home, `sb:{schemas}:policy:ACCOUNT@REGION` elsewhere.
- Discovery's per-bus stream lives in the bus's own slot, under `router.keys.Keys.bus_tag(bus)`, so the internal
  discovery target's append commits with the ingest acknowledgement (stage 4, `schemas.discovery`).

| key | type | what |
|---|---|---|
| `sb:{schemas}:registries` | hash | registry key-layout name R -> registry record (JSON, `schemas.store`) |
| `sb:{schemas}:policy` | string | the account's resource policy (`{"Policy", "RevisionId"}`, no RegistryName) |
| `sb:{schemas}:policy:ACCOUNT@REGION` | string | the same, of another namespace's account |
| `sb:{schemas}:discoverers` | hash | discoverer key-layout name (`ID`, `ACCOUNT@REGION@ID`) -> discoverer record |
| `sb:{registry:R}:exists` | string | `1` while registry R exists: schema writes check it in the same script |
| `sb:{registry:R}:schemas` | hash | schema name -> schema record (JSON: name, ARN, type, tags, latest version) |
| `sb:{registry:R}:versions:S` | hash | version number -> version record (JSON: `Content`, `Type`, dates) |
| `sb:{registry:R}:bindings:S` | hash | `Language:version` -> code binding record (JSON: `Status`, dates) |
| `sb:{registry:R}:binding-sources:S` | hash | `Language:version` -> the generated zip (bytes) |
| `sb:{registry:R}:policy` | string | registry R's resource policy (`{"Policy": ..., "RevisionId": ...}`) |
| `sb:{registry:R}:fingerprints` | hash | discovery: schema name -> structural fingerprint of its latest version |
| `sb:{b:N}:bus:B:schemas-discovery` | stream | discovery: events copied by the discovery target for inference |

Records are JSON objects; timestamps are epoch seconds (float). The registry index lives in the `{schemas}` slot and a
registry's contents in its own slot, so registry-level changes are two single-slot steps, ordered like buses in
`router.keys`: CreateRegistry sets the `exists` marker then adds the index entry; DeleteRegistry removes the index
entry, then (in one script that re-checks the schema list) the marker and every key of the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.keys import Keys, KeySpace
from router.namespace import Namespace, valid_account, valid_region

__all__ = ["SchemaKeys", "registry_key", "split_registry"]

SCHEMA_PARTS = ("versions", "bindings", "binding-sources")
"""A schema's keys in its registry's slot, each followed by the schema name."""


def registry_key(name: str, namespace: Namespace, home: Namespace) -> str:
    """The key-layout name of registry `name` of `namespace`: the name itself at home, else
    `ACCOUNT@REGION@NAME` (router.keys `Keys.scoped`, the one place that form is made)."""
    return Keys(home=home).scoped(name, namespace)


def split_registry(key: str, home: Namespace) -> tuple[Namespace, str]:
    """(namespace, name) of a registry key-layout name made by `registry_key` (the name may hold `@` itself)."""
    account, region, name = [*key.split("@", 2), "", ""][:3]
    if name and valid_account(account) and valid_region(region):
        return Namespace(account, region), name
    return home, key


@dataclass(frozen=True, slots=True)
class SchemaKeys(KeySpace):
    """Key builder for the schema registry (router.keys.KeySpace: the router's prefix, `SchemaKeys.of(keys)`)."""

    # account-wide: tag {schemas} -----------------------------------------------------------------------------
    @property
    def registries(self) -> str:
        return self.tagged("schemas", "registries")

    @property
    def account_policy(self) -> str:
        return self.tagged("schemas", "policy")

    def namespace_policy(self, namespace: Namespace, home: Namespace) -> str:
        """The account-level policy of `namespace` (`account_policy` at home)."""
        if namespace == home:
            return self.account_policy
        return self.tagged("schemas", "policy", f"{namespace.account_id}@{namespace.region}")

    @property
    def discoverers(self) -> str:
        return self.tagged("schemas", "discoverers")

    # per registry: tag {registry:R} ----------------------------------------------------------------------------
    def registry_tag(self, registry: str) -> str:
        return self.tagged(f"registry:{registry}")

    def registry_exists(self, registry: str) -> str:
        return self.tagged(f"registry:{registry}", "exists")

    def schemas(self, registry: str) -> str:
        return self.tagged(f"registry:{registry}", "schemas")

    def registry_policy(self, registry: str) -> str:
        return self.tagged(f"registry:{registry}", "policy")

    def versions(self, registry: str, schema: str) -> str:
        return self.tagged(f"registry:{registry}", "versions", schema)

    def bindings(self, registry: str, schema: str) -> str:
        return self.tagged(f"registry:{registry}", "bindings", schema)

    def binding_sources(self, registry: str, schema: str) -> str:
        return self.tagged(f"registry:{registry}", "binding-sources", schema)

    def schema_keys(self, registry: str, schema: str) -> list[str]:
        """Every per-schema key (versions, bindings, binding sources), for deletes."""
        return [self.tagged(f"registry:{registry}", part, schema) for part in SCHEMA_PARTS]

    # per bus (in the bus's slot) -----------------------------------------------------------------------------
    @staticmethod
    def discovery_stream(keys: Keys, bus: str) -> str:
        return f"{keys.bus_tag(bus)}:schemas-discovery"
