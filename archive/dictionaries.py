"""The archives' trained compression dictionaries: made once per archive from its own events, kept by id beside
them, and known to every process (the ingest-side archive target compresses with the current one, readers load
the ones a page names).

Why: a ~1 KB envelope compressed alone keeps ~0.53 of its bytes at zstd level 1, because each frame starts from
nothing; with a 16 KB dictionary trained on the archive's own events it keeps ~0.24 and compresses in about half
the time (`archive.codec`, BENCHMARKS.md). Both the memory per archived event and the ingest worker's CPU per
archived event go down.

How:

- **Training** (the maintenance round every router process runs, `archive.background`): an archive without a
  dictionary that holds at least `min_events` events gets one, trained (in a worker thread) on its newest
  `samples` events and stored with `HSETNX` as id 1 in `sb:{b:N}:bus:B:archive:A:G:dicts` (the archive's storage
  slot). Processes that train at the same time race on HSETNX; the first wins and every process then uses the
  stored one. An archive is trained once (its events of other shapes later still compress, only less).
- **Writing**: each process keeps the newest dictionary of every archive in `current` (refreshed by the same
  round), so the archive target (no I/O allowed there) compresses with it; until a process has it, members are
  plain zstd (codec 1). Members name their dictionary, so old members stay readable whatever comes later.
- **Reading**: `for_members` loads (once per process: a dictionary never changes) the dictionaries a page of
  members names. Dictionaries are deleted only with the archive's storage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
import zstandard

from archive import codec

__all__ = ["DICTIONARIES", "Dictionaries"]

log = logging.getLogger("switchboard.archive")

FIRST_ID = 1


class Dictionaries:
    """The dictionaries this process knows (one instance per process: `DICTIONARIES`)."""

    def __init__(self) -> None:
        self.current: dict[str, codec.Dictionary] = {}
        """Archive events key -> the dictionary to compress its new events with."""
        self._loaded: dict[tuple[str, int], codec.Dictionary] = {}
        self._failed: dict[str, int] = {}
        """Archive events key -> its event count when training failed (tried again once it has doubled)."""

    async def for_members(
        self, redis: aioredis.Redis, dicts_key: str, members: Iterable[bytes]
    ) -> Mapping[int, codec.Dictionary]:
        """The dictionaries (by id) that `members` of the archive whose dictionaries are at `dicts_key` need."""
        wanted = codec.dictionary_ids(members)
        if not wanted:
            return {}
        missing = sorted(i for i in wanted if (dicts_key, i) not in self._loaded)
        if missing:
            found: Any = await redis.hmget(dicts_key, [str(i) for i in missing])
            for dictionary_id, data in zip(missing, found, strict=True):
                if data is not None:
                    self._loaded[(dicts_key, dictionary_id)] = codec.Dictionary(dictionary_id, bytes(data))
        return {i: self._loaded[(dicts_key, i)] for i in wanted if (dicts_key, i) in self._loaded}

    async def newest(self, redis: aioredis.Redis, dicts_key: str) -> codec.Dictionary | None:
        """The archive's newest dictionary, None when it has none yet."""
        ids: Any = await redis.hkeys(dicts_key)
        if not ids:
            return None
        newest = max(int(i) for i in ids)
        loaded = await self.for_members(redis, dicts_key, [_member_naming(newest)])
        return loaded.get(newest)

    async def maintain(
        self,
        redis: aioredis.Redis,
        events_key: str,
        dicts_key: str,
        *,
        min_events: int,
        samples: int,
        dictionary_bytes: int,
    ) -> bool:
        """Refresh the archive's current dictionary, training it first when it is due; True if this trained one."""
        found = await self.newest(redis, dicts_key)
        trained = False
        if found is None and min_events > 0:
            count = int(await redis.zcard(events_key))
            if count >= min_events and count >= 2 * self._failed.get(events_key, 0):
                trained = await self._train(
                    redis, events_key, dicts_key, count=count, samples=samples, size=dictionary_bytes
                )
                found = await self.newest(redis, dicts_key)
        if found is not None:
            self.current[events_key] = found
        return trained

    async def _train(
        self, redis: aioredis.Redis, events_key: str, dicts_key: str, *, count: int, samples: int, size: int
    ) -> bool:
        members: Any = await redis.zrange(events_key, -samples, -1)
        events: list[bytes | bytearray | memoryview] = []
        for member in members:
            try:
                events.append(codec.decode(member).event)
            except (ValueError, codec.MissingDictionary):
                continue
        try:
            data = await asyncio.to_thread(lambda: zstandard.train_dictionary(size, events).as_bytes())
        except zstandard.ZstdError as err:
            log.info("archive %s: no dictionary trained from %d events (%s)", events_key, len(events), err)
            self._failed[events_key] = count
            return False
        return bool(await redis.hsetnx(dicts_key, str(FIRST_ID), data))

    def forget(self, events_key: str) -> None:
        """Drop what is known of a deleted archive's storage."""
        self.current.pop(events_key, None)
        self._failed.pop(events_key, None)


def _member_naming(dictionary_id: int) -> bytes:
    """A stand-in member that names `dictionary_id` (for `for_members`)."""
    return bytes(codec.HEAD_BYTES - 1) + bytes([codec.CODEC_ZSTD_DICT]) + dictionary_id.to_bytes(4, "big")


DICTIONARIES = Dictionaries()
"""This process's dictionaries (the archive target, the readers and the maintenance round share them)."""
