"""The replay runner: every router process looks for active replays, claims each free one with a lease, and
appends its window page by page into the destination bus's ingest stream.

A page is `page_events` archive members read with `ZRANGE ... BYLEX` after the checkpoint (`archive.codec`: event
time order, then arrival order), decoded, given `"replay-name": "<replay>"` (their `id` and `time` kept), and
appended together with the new checkpoint by `ReplayStore.append`, one single-slot script in the destination's
slot that also checks the lease. FilterArns travel in each appended entry's `only_rules` field, which the ingest
worker honours (router.ingest). So:

- a process killed mid-replay (kill -9) stops holding the lease within `lease_ms`; the next process to poll claims
  it and resumes at the checkpoint: no event is lost and none is appended twice;
- a page is read after the checkpoint it is appended against, so even two processes that both believe they hold
  the lease (a paused one whose lease expired) cannot append the same page twice: the second gets MOVED or LOST;
- replays respect the destination's ingest backlog: while more than `backlog_limit_events` of its events wait for
  the ingest worker, the append script answers FULL and the runner waits (renewing its lease), so a replay never
  floods Redis; the check is part of the append script (no round trip of its own).

Throughput: an as-fast-as-possible replay decodes the next page (after the page being appended) while Redis runs
the append script, so the process's work and Redis's overlap; the next page is used only if the append went OK (it
starts after the new checkpoint). Its members are fetched before the append is sent (sent together, Redis ran the
append script first and answered the read after it) and decoded in chunks (`_CHUNK_EVENTS`), one loop per chunk
(`codec.decode_events`). The replay name is added by replacing the envelope's closing brace
with a suffix made once per replay (`replay_name_suffix`), without parsing the event.

Pacing (beyond AWS): with a speed factor `s`, an event of time `t` is appended at `anchor + (t - start) / s` of
wall-clock time, `start` being the window's start; a resumed replay re-anchors at its checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Mapping
from typing import Any, cast

import orjson

from archive import codec
from archive.keys import ArchiveKeys
from archive.replays import ACTIVE_STATES, FINAL_STATES, Record, ReplayState, ReplayStore
from archive.store import archive_store
from router.ingest import consumer_name
from router.state import AppState

__all__ = ["ReplayRunner", "replay_name_suffix", "with_replay_name"]

log = logging.getLogger("switchboard.archive")


_CHUNK_EVENTS = 50
"""A page is decoded in chunks of this many members with a turn of the event loop between them. While the next page
is decoded, the append of the current one is in flight, and its last bytes (up to the transport's 64 KiB high-water
mark) only reach Redis when the event loop runs the transport's writer: decoding a whole page in one go (~3 ms)
held Redis's append script back by that long, so the two ran one after the other instead of at once."""


class _Page:
    """A page read from the archive: its members as read, and each one's envelope with the replay's name added
    (None: a member that cannot be decoded, skipped)."""

    __slots__ = ("events", "members")

    def __init__(self, members: list[bytes], events: list[bytes | None]) -> None:
        self.members = members
        self.events = events

    def __len__(self) -> int:
        return len(self.members)

    def cut(self, end: int) -> _Page:
        return self if end == len(self.members) else _Page(self.members[:end], self.events[:end])

    def appended(self) -> list[bytes]:
        """The events to append (the skipped members left out)."""
        if None in self.events:
            return [event for event in self.events if event is not None]
        return cast(list[bytes], self.events)

    def last_ms(self, default: int) -> int:
        """The event time of the page's last event appended (`default` when it has none)."""
        at = next((i for i in range(len(self.events) - 1, -1, -1) if self.events[i] is not None), None)
        return default if at is None else codec.member_time_ms(self.members[at])


def replay_name_suffix(replay: str) -> bytes:
    """What `with_replay_name` puts in place of an envelope's closing brace (made once per replay)."""
    return b',"replay-name":' + orjson.dumps(replay) + b"}"


def with_replay_name(event: bytes, replay: str, suffix: bytes | None = None) -> bytes:
    """The envelope with `"replay-name": replay` added as its last field (everything else byte for byte);
    `suffix` is `replay_name_suffix(replay)`, when the caller made it already."""
    if event[-1:] == b"}" and len(event) > 2 and b'"replay-name"' not in event:
        return event[:-1] + (suffix or replay_name_suffix(replay))
    body = event.rstrip()
    if body.endswith(b"}") and len(body) > 2 and b'"replay-name"' not in body:
        return body[:-1] + (suffix or replay_name_suffix(replay))
    parsed = orjson.loads(event)
    parsed["replay-name"] = replay
    return orjson.dumps(parsed)


class ReplayRunner:
    """The replays this process runs."""

    def __init__(
        self, state: AppState, *, lease_ms: int, page_events: int, poll_interval_s: float, backlog_limit_events: int
    ) -> None:
        self.state = state
        self.backlog_limit_events = backlog_limit_events
        self.lease_ms = lease_ms
        self.page_events = page_events
        self.poll_interval_s = poll_interval_s
        self.me = consumer_name()
        self.store = ReplayStore(state.redis, ArchiveKeys(state.keys))
        self.running: dict[str, asyncio.Task[None]] = {}
        self.stopping = False

    async def poll(self) -> None:
        """Claim and start every active replay that no process runs."""
        for name in await self.store.active():
            if self.stopping:
                return
            if name in self.running:
                continue
            record = await self.store.get(name)
            if record is None:
                await self.store.retire(name)
                continue
            claimed = await self.store.claim(record, self.me, self.lease_ms)
            if claimed is None:
                continue  # another process runs it
            self.running[name] = asyncio.create_task(self._run(record, claimed), name=f"replay {name}")

    async def stop(self) -> None:
        """Stop running replays here (their leases lapse and another process, or this one later, resumes them)."""
        self.stopping = True
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        self.running.clear()

    async def _run(self, record: Record, state: ReplayState) -> None:
        try:
            await self._drive(record, state)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the lease lapses and a process (maybe this one) resumes at the checkpoint
            log.warning("replay %s: %s: %s (it resumes once its lease lapses)", record["ReplayName"], type(err), err)
        finally:
            self.running.pop(self.store.key_of(record), None)

    async def _end(self, record: Record, state: str, reason: str, only_from: tuple[str, ...]) -> None:
        outcome = await self.store.finish(record, self.me, state, reason, only_from)
        if outcome == "CANCELLING":
            outcome = await self.store.finish(record, self.me, "CANCELLED", "", ("CANCELLING",))
        if outcome == "OK" or outcome in FINAL_STATES:
            await self.store.retire(self.store.key_of(record))

    async def _drive(self, record: Record, state: ReplayState) -> None:
        name = self.store.key_of(record)  # its key-layout name (router.namespace)
        if state.state in FINAL_STATES:
            await self.store.retire(name)
            return
        if state.state == "CANCELLING":
            await self._end(record, "CANCELLED", "", ("CANCELLING",))
            return
        archives = archive_store(self.state).for_arn(str(record["EventSourceArn"]))  # the replay's namespace
        archive = await archives.get(record["ArchiveName"])
        if archive is None:
            await self._end(record, "FAILED", f"Archive {record['ArchiveName']} does not exist.", ACTIVE_STATES)
            return
        events_key = archives.events_key(archive)
        start_ms, end_ms = int(record["WindowStartMs"]), int(record["WindowEndMs"])
        checkpoint = state.checkpoint
        high = codec.time_max(end_ms)
        speed: float | None = record.get("Speed")
        anchor_ms = time.time() * 1000
        if speed and state.last_ms is not None:
            anchor_ms -= (state.last_ms - start_ms) / speed
        rename = replay_name_suffix(record["ReplayName"])
        last_ms = state.last_ms or 0

        async def fetch(after: bytes) -> list[bytes]:
            low = codec.after_key(after) if after else codec.time_min(start_ms)
            members: Any = await self.state.redis.zrange(
                events_key, low, high, bylex=True, offset=0, num=self.page_events
            )
            return list(members)

        async def read(after: bytes) -> _Page:
            return await decode(await fetch(after))

        async def decode(members: list[bytes]) -> _Page:
            dictionaries = await archives.dictionaries(archive, members)
            events: list[bytes | None] = []
            for first in range(0, len(members), _CHUNK_EVENTS):
                if first:  # let the event loop write the append in flight meanwhile (see _CHUNK_EVENTS)
                    await asyncio.sleep(0)
                chunk = codec.decode_events(members[first : first + _CHUNK_EVENTS], dictionaries)
                for at, event in enumerate(chunk):
                    if event is None:
                        _skipped(members[first + at], dictionaries)
                    elif event[-1:] == b"}" and len(event) > 2 and b'"replay-name"' not in event:
                        chunk[at] = event[:-1] + rename
                    else:
                        chunk[at] = with_replay_name(event, record["ReplayName"], rename)
                events.extend(chunk)
            return _Page(members, events)

        page = await read(checkpoint)
        while not self.stopping:
            if not page:
                current = await archives.get(record["ArchiveName"])
                if current is None or current.get("Generation") != archive.get("Generation"):
                    reason = f"Archive {record['ArchiveName']} does not exist."  # deleted mid-replay
                    await self._end(record, "FAILED", reason, ACTIVE_STATES)
                else:
                    await self._end(record, "COMPLETED", "", ("STARTING", "RUNNING"))
                return
            if speed:  # the page is in event-time order: what is due is a prefix
                cut = next(
                    (
                        i
                        for i, (m, e) in enumerate(zip(page.members, page.events, strict=True))
                        if e is not None and not _due(codec.member_time_ms(m), anchor_ms, start_ms, speed)
                    ),
                    len(page),
                )
                if cut == 0:
                    if not await self._sleep_until(record, page, anchor_ms, start_ms, speed):
                        return
                    page = await read(checkpoint)  # read again: events archived meanwhile may come first
                    continue
                page = page.cut(cut)
            last_key = codec.key_of(page.members[-1])
            last_ms = page.last_ms(last_ms)
            append = self._append(record, checkpoint, last_key, last_ms, page.appended())
            if speed:  # paced: the next page is read once this one is appended (its start may not be due yet)
                outcome, following = await append, None
            else:  # as fast as possible: decode the next page while Redis appends this one
                outcome, following = await _both(append, decode(await fetch(last_key)))
            if outcome != "OK":
                if outcome == "CANCELLING":
                    await self._end(record, "CANCELLED", "", ("CANCELLING",))
                elif outcome == "NOBUS":
                    reason = f"Event bus {self.state.keys.unscoped(record['DestinationBus'])[1]} does not exist."
                    await self._end(record, "FAILED", reason, ("STARTING", "RUNNING"))
                elif outcome == "ENDED":
                    await self.store.retire(name)
                return  # STOPPED, LOST or MOVED: this process stops (another one runs it now, or will)
            checkpoint = last_key
            page = following if following is not None else await read(last_key)

    async def _append(
        self, record: Record, expected: bytes, checkpoint: bytes, last_ms: int, events: list[bytes]
    ) -> str:
        """Append one page (waiting, lease renewed, while the destination's backlog is over the limit); the
        outcome: OK, or why this process stops running the replay (STOPPED: its lease or its turn is over)."""
        while True:
            appended = await self.store.append(
                record,
                me=self.me,
                expected=expected,
                checkpoint=checkpoint,
                last_ms=last_ms,
                lease_ms=self.lease_ms,
                events=events,
                only_rules=record.get("OnlyRules") or "",
                backlog_limit=self.backlog_limit_events,
            )
            if appended.outcome != "FULL":
                return appended.outcome
            await asyncio.sleep(self.poll_interval_s)
            if self.stopping or not await self._still_mine(record):
                return "STOPPED"

    async def _sleep_until(self, record: Record, page: _Page, anchor_ms: float, start: int, speed: float) -> bool:
        """Wait for the page's first event to be due (at most a poll interval); False when the replay stopped
        being this process's to run (cancelled, ended, or its lease lost)."""
        first = next(m for m, e in zip(page.members, page.events, strict=True) if e is not None)
        wait_s = (anchor_ms + (codec.member_time_ms(first) - start) / speed) / 1000 - time.time()
        await asyncio.sleep(min(max(wait_s, 0.001), self.poll_interval_s))
        return await self._still_mine(record)

    async def _still_mine(self, record: Record) -> bool:
        """Renew the lease; end a replay cancelled meanwhile. False when this process should stop running it."""
        if not await self.store.renew(record, self.me, self.lease_ms):
            return False
        (current,) = await self.store.states([record])
        if current.state == "CANCELLING":
            await self._end(record, "CANCELLED", "", ("CANCELLING",))
            return False
        return current.state in ("STARTING", "RUNNING")


def _skipped(member: bytes, dictionaries: Mapping[int, codec.Dictionary]) -> None:
    """Warn of a member `codec.decode_events` could not decode (bytes that are not a member: skipped). A member whose
    dictionary is missing raised codec.MissingDictionary there: the replay stops and resumes later, it never skips
    the event."""
    try:
        codec.decode(member, dictionaries)
    except ValueError as err:
        log.warning("archive member skipped by a replay: %s", err)


def _due(time_ms: int, anchor_ms: float, start_ms: int, speed: float) -> bool:
    return anchor_ms + (time_ms - start_ms) / speed <= time.time() * 1000


async def _both(append: Awaitable[str], decode: Awaitable[_Page]) -> tuple[str, _Page | None]:
    """The append's outcome and the next page, both in flight at once (the page only when the append went OK): this
    process decodes the next page while Redis runs the append script. The next page's members were fetched before
    the append was sent: sent together, Redis ran the append script first and answered the read after it, so the
    decoding waited for the append and Redis for the decoding."""
    outcome, page = await asyncio.gather(append, decode, return_exceptions=True)
    if isinstance(outcome, BaseException):
        raise outcome
    if outcome != "OK":
        return outcome, None
    if isinstance(page, BaseException):
        raise page
    return outcome, page


def window_ms(start_s: float, end_s: float) -> tuple[int, int]:
    """The inclusive window in epoch ms (events carry whole seconds)."""
    return math.ceil(start_s * 1000), math.floor(end_s * 1000)
