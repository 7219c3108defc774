"""The archive package's whole Redis key layout, in one place (the router's own layout is in `router.keys`).

Two kinds of keys, by what an operation touches together:

- `{prefix}:{archives}:...`: the account-wide registries: archive and replay records, the set of active replays
  (so "at most 10 active" is one single-slot check), and the tombstones of deleted archives' storage.
- Per bus, under `router.keys.Keys.bus_tag(bus)` (so in the bus's hash slot, with its ingest stream): an archive's
  storage lives in its source bus's slot, so the internal archive target's writes commit with the ingest
  acknowledgement in the settle script; a replay's state and checkpoint live in its **destination** bus's slot, so
  "append a page to the destination's ingest stream + advance the checkpoint" is one single-slot script.

Archive storage keys carry the archive's *generation* `G` (a random id made at CreateArchive): a batch staged just
before DeleteArchive removed the managed rule can still commit after the storage was deleted; it then writes into
the old generation's keys, which the background sweep deletes again (`tombstones`), and never into the keys of a
new archive of the same name.

| key | type | what |
|---|---|---|
| `sb:{archives}:archives` | hash | archive name -> archive record (JSON, `archive.store`) |
| `sb:{archives}:replays` | hash | replay name -> replay record (JSON, `archive.replays`) |
| `sb:{archives}:active-replays` | set | names of replays not yet COMPLETED, CANCELLED or FAILED |
| `sb:{archives}:tombstones` | hash | `bus/name/G` of a deleted archive's storage -> deletion epoch ms (swept again) |
| `sb:{b:N}:bus:B:archive:A:G:events` | zset | archive A's events (all score 0, ordered by member: `archive.codec`) |
| `sb:{b:N}:bus:B:archive:A:G:stats` | hash | `bytes`: the sum of the archived envelopes' sizes (EventCount is ZCARD) |
| `sb:{b:N}:bus:B:archive:A:G:dicts` | hash | dictionary id -> trained zstd dictionary (`archive.dictionaries`) |
| `sb:{b:N}:bus:D:replay:R` | hash | replay R's state and checkpoint (destination bus D's slot, `archive.replays`) |
| `sb:{b:N}:bus:D:replay:R:lease` | string | the router process running replay R (expires unless renewed) |

Archive and replay names match `[.\\-_A-Za-z0-9]+` (the model), so they never contain `{`, `}`, `:` or `/`.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.keys import Keys

__all__ = ["ArchiveKeys"]


@dataclass(frozen=True, slots=True)
class ArchiveKeys:
    """Key builder for archives and replays, bound to the router's `Keys` (its prefix and bus tags)."""

    keys: Keys

    # account-wide ----------------------------------------------------------------------------------------------
    @property
    def archives(self) -> str:
        return f"{self.keys.prefix}:{{archives}}:archives"

    @property
    def replays(self) -> str:
        return f"{self.keys.prefix}:{{archives}}:replays"

    @property
    def active_replays(self) -> str:
        return f"{self.keys.prefix}:{{archives}}:active-replays"

    @property
    def tombstones(self) -> str:
        return f"{self.keys.prefix}:{{archives}}:tombstones"

    # an archive's storage, in its bus's slot ---------------------------------------------------------------------
    def storage(self, bus: str, archive: str, generation: str) -> str:
        return f"{self.keys.bus_tag(bus)}:archive:{archive}:{generation}"

    def events(self, bus: str, archive: str, generation: str) -> str:
        return f"{self.storage(bus, archive, generation)}:events"

    def stats(self, bus: str, archive: str, generation: str) -> str:
        return f"{self.storage(bus, archive, generation)}:stats"

    def dicts(self, bus: str, archive: str, generation: str) -> str:
        return f"{self.storage(bus, archive, generation)}:dicts"

    # a replay's state, in its destination bus's slot -------------------------------------------------------------
    def replay_state(self, destination: str, replay: str) -> str:
        return f"{self.keys.bus_tag(destination)}:replay:{replay}"

    def replay_lease(self, destination: str, replay: str) -> str:
        return f"{self.keys.bus_tag(destination)}:replay:{replay}:lease"
