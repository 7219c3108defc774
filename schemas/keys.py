"""The schema registry's whole Redis key layout, in one place (the router's own layout is in `router.keys`).

Every key an operation changes together shares one hash tag, so each change is a single-slot Lua script and the
layout runs unchanged on Redis Cluster:

- `{prefix}:{schemas}:...`: account-wide records: the registry index, discoverers, the account's policy.
- `{prefix}:{registry:R}:...`: everything of registry R: its schemas, their versions, code bindings, its policy.
  Registry names match `[.\\-_A-Za-z0-9@]+` (checked by the API), so they never contain `{`, `}` or `:`.
- Discovery's per-bus stream lives in the bus's own slot, under `router.keys.Keys.bus_tag(bus)`, so the internal
  discovery target's append commits with the ingest acknowledgement (stage 4, `schemas.discovery`).

| key | type | what |
|---|---|---|
| `sb:{schemas}:registries` | hash | registry name -> registry record (JSON, `schemas.store`) |
| `sb:{schemas}:policy` | string | the account's resource policy (`{"Policy", "RevisionId"}`, no RegistryName) |
| `sb:{schemas}:discoverers` | hash | discoverer id -> discoverer record (JSON) |
| `sb:{registry:R}:exists` | string | `1` while registry R exists: schema writes check it in the same script |
| `sb:{registry:R}:schemas` | hash | schema name -> schema record (JSON: name, ARN, type, tags, latest version) |
| `sb:{registry:R}:versions:S` | hash | version number -> version record (JSON: `Content`, `Type`, dates) |
| `sb:{registry:R}:bindings:S` | hash | `Language:version` -> code binding record (JSON: `Status`, dates) |
| `sb:{registry:R}:binding-sources:S` | hash | `Language:version` -> the generated zip (bytes) |
| `sb:{registry:R}:policy` | string | registry R's resource policy (`{"Policy": ..., "RevisionId": ...}`) |
| `sb:{bus:B}:schemas-discovery` | stream | discovery: events copied by the discovery target for inference |

Records are JSON objects; timestamps are epoch seconds (float). The registry index lives in the `{schemas}` slot and a
registry's contents in its own slot, so registry-level changes are two single-slot steps, ordered like buses in
`router.keys`: CreateRegistry sets the `exists` marker then adds the index entry; DeleteRegistry removes the index
entry, then (in one script that re-checks the schema list) the marker and every key of the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.keys import Keys

__all__ = ["SchemaKeys"]


@dataclass(frozen=True, slots=True)
class SchemaKeys:
    """Key builder for the schema registry, bound to the router's prefix (`Keys.prefix`)."""

    prefix: str = "sb"

    @classmethod
    def of(cls, keys: Keys) -> SchemaKeys:
        return cls(keys.prefix)

    # account-wide --------------------------------------------------------------------------------------------
    @property
    def registries(self) -> str:
        return f"{self.prefix}:{{schemas}}:registries"

    @property
    def account_policy(self) -> str:
        return f"{self.prefix}:{{schemas}}:policy"

    @property
    def discoverers(self) -> str:
        return f"{self.prefix}:{{schemas}}:discoverers"

    # per registry --------------------------------------------------------------------------------------------
    def registry_tag(self, registry: str) -> str:
        return f"{self.prefix}:{{registry:{registry}}}"

    def registry_exists(self, registry: str) -> str:
        return f"{self.registry_tag(registry)}:exists"

    def schemas(self, registry: str) -> str:
        return f"{self.registry_tag(registry)}:schemas"

    def versions(self, registry: str, schema: str) -> str:
        return f"{self.registry_tag(registry)}:versions:{schema}"

    def bindings(self, registry: str, schema: str) -> str:
        return f"{self.registry_tag(registry)}:bindings:{schema}"

    def binding_sources(self, registry: str, schema: str) -> str:
        return f"{self.registry_tag(registry)}:binding-sources:{schema}"

    def registry_policy(self, registry: str) -> str:
        return f"{self.registry_tag(registry)}:policy"

    def schema_keys(self, registry: str, schema: str) -> list[str]:
        """Every per-schema key (versions, bindings, binding sources), for deletes."""
        return [
            self.versions(registry, schema),
            self.bindings(registry, schema),
            self.binding_sources(registry, schema),
        ]

    # per bus (in the bus's slot) -----------------------------------------------------------------------------
    @staticmethod
    def discovery_stream(keys: Keys, bus: str) -> str:
        return f"{keys.bus_tag(bus)}:schemas-discovery"
