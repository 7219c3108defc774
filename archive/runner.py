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
  the ingest worker, the runner waits (renewing its lease), so a replay never floods Redis.

Pacing (beyond AWS): with a speed factor `s`, an event of time `t` is appended at `anchor + (t - start) / s` of
wall-clock time, `start` being the window's start; a resumed replay re-anchors at its checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

import orjson

from archive import codec
from archive.keys import ArchiveKeys
from archive.replays import ACTIVE_STATES, FINAL_STATES, Record, ReplayState, ReplayStore
from archive.store import archive_store
from router.ingest import consumer_name
from router.keys import INGEST_GROUP
from router.state import AppState

__all__ = ["ReplayRunner", "with_replay_name"]

log = logging.getLogger("switchboard.archive")


def with_replay_name(event: bytes, replay: str) -> bytes:
    """The envelope with `"replay-name": replay` added as its last field (everything else byte for byte)."""
    body = event.rstrip()
    if body.endswith(b"}") and len(body) > 2 and b'"replay-name"' not in body:
        return body[:-1] + b',"replay-name":' + orjson.dumps(replay) + b"}"
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
        low = codec.after_key(checkpoint) if checkpoint else codec.time_min(start_ms)
        high = codec.time_max(end_ms)
        speed: float | None = record.get("Speed")
        anchor_ms = time.time() * 1000
        if speed and state.last_ms is not None:
            anchor_ms -= (state.last_ms - start_ms) / speed
        only = record.get("OnlyRules") or ""
        redis = self.state.redis
        while not self.stopping:
            if not await self._wait_for_room(record):
                return
            members: Any = await redis.zrange(events_key, low, high, bylex=True, offset=0, num=self.page_events)
            if not members:
                await self._end(record, "COMPLETED", "", ("STARTING", "RUNNING"))
                return
            page = [(codec.key_of(member), _decoded(member)) for member in members]
            if speed:  # the page is in event-time order: what is due is a prefix
                cut = next(
                    (i for i, (_, e) in enumerate(page) if e is not None and not _due(e, anchor_ms, start_ms, speed)),
                    len(page),
                )
                if cut == 0:
                    if not await self._sleep_until(record, page, anchor_ms, start_ms, speed):
                        return
                    continue
                page = page[:cut]
            events = [with_replay_name(event.event, record["ReplayName"]) for _, event in page if event is not None]
            last_key = page[-1][0]
            last_ms = next((event.time_ms for _, event in reversed(page) if event is not None), state.last_ms or 0)
            appended = await self.store.append(
                record,
                me=self.me,
                expected=checkpoint,
                checkpoint=last_key,
                last_ms=last_ms,
                lease_ms=self.lease_ms,
                events=events,
                only_rules=only,
            )
            if appended.outcome == "OK":
                checkpoint, low = last_key, codec.after_key(last_key)
                continue
            if appended.outcome == "CANCELLING":
                await self._end(record, "CANCELLED", "", ("CANCELLING",))
            elif appended.outcome == "NOBUS":
                reason = f"Event bus {self.state.keys.unscoped(record['DestinationBus'])[1]} does not exist."
                await self._end(record, "FAILED", reason, ("STARTING", "RUNNING"))
            elif appended.outcome == "ENDED":
                await self.store.retire(name)
            return  # LOST or MOVED: another process runs it now

    async def _wait_for_room(self, record: Record) -> bool:
        """Wait while the destination's ingest backlog is over the limit; False if the lease was lost meanwhile."""
        limit = self.backlog_limit_events
        stream = self.state.keys.ingest(record["DestinationBus"])
        while await _backlog(self.state, stream) > limit:
            await asyncio.sleep(self.poll_interval_s)
            if not await self._still_mine(record):
                return False
        return True

    async def _sleep_until(
        self, record: Record, page: list[tuple[bytes, codec.Decoded | None]], anchor_ms: float, start: int, speed: float
    ) -> bool:
        """Wait for the page's first event to be due (at most a poll interval); False when the replay stopped
        being this process's to run (cancelled, ended, or its lease lost)."""
        first = next(event for _, event in page if event is not None)
        wait_s = (anchor_ms + (first.time_ms - start) / speed) / 1000 - time.time()
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


def _decoded(member: bytes) -> codec.Decoded | None:
    try:
        return codec.decode(member)
    except ValueError as err:
        log.warning("archive member skipped by a replay: %s", err)
        return None


def _due(event: codec.Decoded, anchor_ms: float, start_ms: int, speed: float) -> bool:
    return anchor_ms + (event.time_ms - start_ms) / speed <= time.time() * 1000


async def _backlog(state: AppState, stream: str) -> int:
    try:
        groups: Any = await state.redis.xinfo_groups(stream)
    except Exception:  # no stream or group yet: nothing waits
        return 0
    for group in groups:
        group_name = group.get("name")
        if group_name in (INGEST_GROUP, INGEST_GROUP.encode()):
            lag = group.get("lag")
            return int(group.get("pending") or 0) + (int(lag) if lag is not None else 0)
    return 0


def window_ms(start_s: float, end_s: float) -> tuple[int, int]:
    """The inclusive window in epoch ms (events carry whole seconds)."""
    return math.ceil(start_s * 1000), math.floor(end_s * 1000)
