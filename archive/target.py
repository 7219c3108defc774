"""The internal archive target: the only work archiving adds to the ingest path.

An archive is the managed rule `Events-Archive-<name>` on its bus with one target whose ARN is
`router.extensions.internal_target_arn("archive", "<name>/<generation>", ...)`. The delivery sink calls
`archive_batch` once per routed batch with the events the rule matched (an `InternalBatchTarget`: the batch's
compression runs in one tight loop and no object is made per event), which returns, for each event, two commands on
keys of the bus's own slot: `ZADD` of the event's member (`archive.codec`: event time, ingest id, size, envelope
compressed with the archive's current dictionary when this process has one, `archive.dictionaries`) to the archive's
sorted set, and `HINCRBY` of its size into the archive's stats. The ingest worker's settle script applies them only
if it still owns the entry, in the same script that acknowledges it (merged into one ZADD and one HINCRBY per batch
when it owns every entry of the batch, router.ingest): so each accepted event is archived exactly once, and
EventCount (the set's cardinality) and SizeBytes never drift from what is stored.

No I/O here, and no JSON parsing for envelopes the router built (`codec.event_time_ms`).
"""

from __future__ import annotations

import logging

from archive import codec
from archive.dictionaries import DICTIONARIES
from archive.keys import ArchiveKeys
from router.extensions import Command, InternalBatch, InternalBatchTarget
from router.keys import Keys

__all__ = ["ARCHIVE_TARGET", "KIND", "archive_batch", "target_name"]

log = logging.getLogger("switchboard.archive")

KIND = "archive"
"""The internal target kind (router.extensions) of archive targets."""


def target_name(archive: str, generation: str) -> str:
    """The `<name>` part of an archive target's ARN."""
    return f"{archive}/{generation}"


def archive_batch(batch: InternalBatch) -> list[tuple[Command, ...]]:
    """The `archive` internal target kind's handler: each event's ZADD of its member and HINCRBY of its size."""
    storage = _storage_keys(batch.keys, batch.bus, batch.name)
    if storage is None:
        log.warning("bus %s: archive target %r has no generation; events not archived", batch.bus, batch.name)
        return [() for _ in batch.events]
    events_key, stats_key = storage
    encode, event_time_ms = codec.encoder(DICTIONARIES.current.get(events_key)), codec.event_time_ms
    made: list[tuple[Command, ...]] = []
    for entry_id, event in zip(batch.entry_ids, batch.events, strict=True):
        ms_text, _, seq_text = entry_id.partition(b"-")
        try:
            ingest_ms, ingest_seq = int(ms_text), int(seq_text)
        except ValueError:
            ingest_ms, ingest_seq = 0, codec.import_seq(event)
        time_ms = event_time_ms(event)
        if time_ms is None:
            time_ms = ingest_ms  # an entry without a readable time (written by hand): archived at its arrival time
        member = encode(event, time_ms, ingest_ms, ingest_seq)
        made.append((("ZADD", events_key, 0, member), ("HINCRBY", stats_key, "bytes", len(event))))
    return made


ARCHIVE_TARGET = InternalBatchTarget(archive_batch)
"""What the extension registers for the `archive` kind (router.extensions)."""


_storage: dict[tuple[Keys, str, str], tuple[str, str] | None] = {}
_STORAGE_MAX = 4096


def _storage_keys(keys: Keys, bus: str, name: str) -> tuple[str, str] | None:
    """(events key, stats key) of the archive target `name` (`<archive>/<generation>`) on `bus`, None when the name
    has no generation; cached, as every matched event asks (the keys of a name never change)."""
    cache_key = (keys, bus, name)
    try:
        return _storage[cache_key]
    except KeyError:
        pass
    archive, _, generation = name.partition("/")
    found: tuple[str, str] | None = None
    if archive and generation:
        archive_keys = ArchiveKeys(keys)
        found = (archive_keys.events(bus, archive, generation), archive_keys.stats(bus, archive, generation))
    if len(_storage) >= _STORAGE_MAX:
        _storage.clear()
    _storage[cache_key] = found
    return found
