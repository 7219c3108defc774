"""Archives and replays of EventBridge events, on Redis, as a router extension (`archive.extension`).

An archive is a managed rule on its bus with an internal target (`archive.target`) whose writes commit with the
ingest acknowledgement; its events live in a sorted set in the bus's hash slot, ordered by event time
(`archive.codec`), with exact EventCount and SizeBytes (`archive.store`). docs/archive.md describes the model, the
key layout (`archive.keys`) and what differs from AWS.
"""

from archive.background import ArchiveOptions
from archive.extension import extension
from archive.keys import ArchiveKeys

__all__ = ["ArchiveKeys", "ArchiveOptions", "extension"]
