"""The internal archive target: the only work archiving adds to the ingest path.

An archive is the managed rule `Events-Archive-<name>` on its bus with one target whose ARN is
`router.extensions.internal_target_arn("archive", "<name>/<generation>", ...)`. For each event the rule matches,
the delivery sink calls `archive_target`, which returns two commands on keys of the bus's own slot: `ZADD` of the
event's member (`archive.codec`: event time, ingest id, size, envelope compressed with the archive's current
dictionary when this process has one, `archive.dictionaries`) to the archive's sorted set, and
`HINCRBY` of its size into the archive's stats. The ingest worker's settle script applies them only if it still owns
the entry, in the same script that acknowledges it: so each accepted event is archived exactly once, and
EventCount (the set's cardinality) and SizeBytes never drift from what is stored.

No I/O here, and no JSON parsing for envelopes the router built (`codec.event_time_ms`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from archive import codec
from archive.dictionaries import DICTIONARIES
from archive.keys import ArchiveKeys
from router.extensions import InternalDelivery
from router.keys import Keys

__all__ = ["KIND", "archive_target", "target_name"]

log = logging.getLogger("switchboard.archive")

KIND = "archive"
"""The internal target kind (router.extensions) of archive targets."""


def target_name(archive: str, generation: str) -> str:
    """The `<name>` part of an archive target's ARN."""
    return f"{archive}/{generation}"


def archive_target(delivery: InternalDelivery) -> Sequence[tuple[str | bytes | int, ...]]:
    """The `archive` internal target kind's handler (router.extensions.InternalTarget)."""
    event = delivery.event
    storage = _storage_keys(delivery.keys, delivery.bus, delivery.name)
    if storage is None:
        log.warning("bus %s: archive target %r has no generation; event not archived", delivery.bus, delivery.name)
        return ()
    events_key, stats_key = storage
    ms_text, _, seq_text = delivery.entry_id.partition(b"-")
    try:
        ingest_ms, ingest_seq = int(ms_text), int(seq_text)
    except ValueError:
        ingest_ms, ingest_seq = 0, codec.import_seq(event)
    time_ms = codec.event_time_ms(event)
    if time_ms is None:
        time_ms = ingest_ms  # an entry without a readable time (written by hand): archived at its arrival time
    member = codec.encode(event, time_ms, ingest_ms, ingest_seq, DICTIONARIES.current.get(events_key))
    return (("ZADD", events_key, 0, member), ("HINCRBY", stats_key, "bytes", len(event)))


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
