"""The internal archive target: the only work archiving adds to the ingest path.

An archive is the managed rule `Events-Archive-<name>` on its bus with one target whose ARN is
`router.extensions.internal_target_arn("archive", "<name>/<generation>", ...)`. For each event the rule matches,
the delivery sink calls `archive_target`, which returns two commands on keys of the bus's own slot: `ZADD` of the
event's member (`archive.codec`: event time, ingest id, size, compressed envelope) to the archive's sorted set, and
`HINCRBY` of its size into the archive's stats. The ingest worker's settle script applies them only if it still owns
the entry, in the same script that acknowledges it: so each accepted event is archived exactly once, and
EventCount (the set's cardinality) and SizeBytes never drift from what is stored.

No I/O here, and no JSON parsing for envelopes the router built (`codec.event_time_ms`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from archive import codec
from archive.keys import ArchiveKeys
from router.extensions import InternalDelivery

__all__ = ["KIND", "archive_target", "target_name"]

log = logging.getLogger("switchboard.archive")

KIND = "archive"
"""The internal target kind (router.extensions) of archive targets."""


def target_name(archive: str, generation: str) -> str:
    """The `<name>` part of an archive target's ARN."""
    return f"{archive}/{generation}"


def archive_target(delivery: InternalDelivery) -> Sequence[tuple[str | bytes | int, ...]]:
    """The `archive` internal target kind's handler (router.extensions.InternalTarget)."""
    archive, _, generation = delivery.name.partition("/")
    if not archive or not generation:
        log.warning("bus %s: archive target %r has no generation; event not archived", delivery.bus, delivery.name)
        return ()
    ms_text, _, seq_text = delivery.entry_id.partition(b"-")
    try:
        ingest_ms, ingest_seq = int(ms_text), int(seq_text)
    except ValueError:
        ingest_ms, ingest_seq = 0, codec.import_seq(delivery.event)
    event = delivery.event
    time_ms = codec.event_time_ms(event)
    if time_ms is None:
        time_ms = ingest_ms  # an entry without a readable time (written by hand): archived at its arrival time
    keys = ArchiveKeys(delivery.keys)
    member = codec.encode(event, time_ms, ingest_ms, ingest_seq)
    return (
        ("ZADD", keys.events(delivery.bus, archive, generation), 0, member),
        ("HINCRBY", keys.stats(delivery.bus, archive, generation), "bytes", len(event)),
    )
