"""The whole Redis key layout, in one place.

Every key the router reads or writes is built here, so the layout can be reviewed (and documented for consumers in
other languages) at a glance. Keys that one operation touches together share a Redis Cluster hash tag, so each
state change is a single-slot MULTI or Lua script and the layout runs unchanged on Redis Cluster:

- `{prefix}:{meta}:...`: account-wide records: the bus registry and account-level counters.
- `{prefix}:{bus:NAME}:...`: everything that belongs to one event bus: its rules, their targets, a change counter,
  the ingest log and its counters. Bus names match `[/.\\-_A-Za-z0-9]+`, so they never contain `{`, `}` or `:`.

| key | type | what |
|---|---|---|
| `sb:{meta}:buses` | hash | bus name -> bus record (JSON) |
| `sb:{meta}:counters` | hash | account-wide metric counters (PutEvents*) |
| `sb:{meta}:config-owned` | set | what config files created: `bus:B`, `rule:B:R`, `target:B:R:ID` (config_apply) |
| `sb:{bus:B}:rules` | hash | rule name -> rule record (JSON: Name, EventPattern, State, Description, ...) |
| `sb:{bus:B}:targets:R` | hash | target id -> target record (JSON, the model's Target shape) for rule R |
| `sb:{bus:B}:version` | string (int) | incremented in the same transaction as every rule or target change |
| `sb:{bus:B}:ingest` | stream | accepted events, one entry per event, field `event` = the envelope JSON |
| `sb:{bus:B}:counters` | hash | per-bus and per-rule metric counters |

The ingest stream is read through the consumer group `INGEST_GROUP`.
"""

from __future__ import annotations

from dataclasses import dataclass

INGEST_GROUP = "router"
"""Consumer group through which router processes share a bus's ingest log."""


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builder bound to a prefix (default `sb`; tests and side-by-side deployments can pick another)."""

    prefix: str = "sb"

    # account-wide ----------------------------------------------------------------------------------------
    @property
    def buses(self) -> str:
        return f"{self.prefix}:{{meta}}:buses"

    @property
    def account_counters(self) -> str:
        return f"{self.prefix}:{{meta}}:counters"

    @property
    def config_owned(self) -> str:
        """The resources config files created, so re-applying can remove what the files no longer declare."""
        return f"{self.prefix}:{{meta}}:config-owned"

    # per bus ---------------------------------------------------------------------------------------------
    def bus_tag(self, bus: str) -> str:
        return f"{self.prefix}:{{bus:{bus}}}"

    def rules(self, bus: str) -> str:
        return f"{self.bus_tag(bus)}:rules"

    def targets(self, bus: str, rule: str) -> str:
        return f"{self.bus_tag(bus)}:targets:{rule}"

    def version(self, bus: str) -> str:
        return f"{self.bus_tag(bus)}:version"

    def ingest(self, bus: str) -> str:
        return f"{self.bus_tag(bus)}:ingest"

    def bus_counters(self, bus: str) -> str:
        return f"{self.bus_tag(bus)}:counters"

    def bus_pattern(self, bus: str) -> str:
        """A SCAN/KEYS match pattern for every key of one bus (`{` and `}` escaped for glob)."""
        return f"{self.prefix}:\\{{bus:{bus}\\}}:*"
