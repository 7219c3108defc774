"""Delivery jobs: one per (matched event, target), in the target's job stream `sb:{b:N}:bus:B:deliveries:R:T`.

A job is staged by `router.delivery.sink.DeliverySink` in the same Lua script that acknowledges the event on the
bus's ingest log, so every matched event gets each of its jobs exactly once. It snapshots what delivery needs, so a
delivery worker never reads rules or targets (a target changed or removed later does not affect jobs already made;
that is EventBridge's eventual consistency too). Stream fields, all strings:

| field | what |
|---|---|
| `id` | the delivery id `<event id>:<rule>:<target id>`: stable over retries and redeliveries (receivers dedupe) |
| `event` | the event envelope JSON, as ingested |
| `rule` | the rule name |
| `target` | the target JSON, as PutTargets stored it |
| `ingest_ms` | when the event was ingested (epoch ms; the ingest log entry's id), the start of its age |
| `attempts` | attempts made so far (0 for a new job) |
| `hops` | how many bus targets the event has passed through (loop bound, see router.delivery.bus_target) |
| `error` | after a failed attempt: `CODE message` of the last failure (the DLQ reports it if the age runs out) |

A retry is the same job with `attempts` and `error` updated, appended again by the retry mover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["Job", "delivery_id", "event_id_of", "parse_job"]

_ENVELOPE_HEAD = b'{"version":"0","id":"'
_UUID_LEN = 36
_TARGET_CACHE: dict[bytes, dict[str, Any]] = {}
_TARGET_CACHE_MAX = 4096


def delivery_id(event_id: str, rule: str, target_id: str) -> str:
    return f"{event_id}:{rule}:{target_id}"


def event_id_of(event: bytes) -> str:
    """The envelope's `id`. Envelopes are written in AWS's field order, so it is read without a full parse."""
    if event.startswith(_ENVELOPE_HEAD):
        end = len(_ENVELOPE_HEAD) + _UUID_LEN
        if event[end : end + 1] == b'"':
            return event[len(_ENVELOPE_HEAD) : end].decode()
    parsed = orjson.loads(event)
    return str(parsed.get("id", "")) if isinstance(parsed, dict) else ""


def parse_target(raw: bytes) -> dict[str, Any]:
    """The target snapshot of a job; jobs of one target share one parsed dict (treat it as read-only)."""
    found = _TARGET_CACHE.get(raw)
    if found is None:
        if len(_TARGET_CACHE) >= _TARGET_CACHE_MAX:
            _TARGET_CACHE.clear()
        found = _TARGET_CACHE[raw] = orjson.loads(raw)
    return found


@dataclass(slots=True)
class Job:
    entry_id: bytes
    """The job's id in its stream (what gets acknowledged)."""
    delivery_id: str
    event: bytes
    rule: str
    raw_target: bytes
    target: dict[str, Any]
    ingest_ms: int
    attempts: int
    hops: int
    error: str = ""
    payload: bytes | None = field(default=None)
    """The shaped input, filled in by the lane just before delivery."""
    bus: str = ""
    """The key-layout name of the bus whose rule made the job (its stream's bus, set by the delivery worker; ''
    stands for the home namespace's): whose account a cross-account bus target delivers as."""

    def fields(self, *, attempts: int, error: str) -> dict[str, str]:
        """The stream fields of this job's next attempt (for the retry schedule)."""
        return {
            "id": self.delivery_id,
            "event": self.event.decode(),
            "rule": self.rule,
            "target": self.raw_target.decode(),
            "ingest_ms": str(self.ingest_ms),
            "attempts": str(attempts),
            "hops": str(self.hops),
            "error": error,
        }


def parse_job(entry_id: bytes, fields: dict[bytes, bytes] | None, bus: str = "") -> Job | None:
    """A job from its stream entry of bus `bus`'s job streams; None for an entry that is not a readable job
    (deleted, or written by hand)."""
    if not fields:
        return None
    try:
        raw_target = fields[b"target"]
        return Job(
            entry_id=entry_id,
            delivery_id=fields[b"id"].decode(),
            event=fields[b"event"],
            rule=fields[b"rule"].decode(),
            raw_target=raw_target,
            target=parse_target(raw_target),
            ingest_ms=int(fields[b"ingest_ms"]),
            attempts=int(fields.get(b"attempts", b"0")),
            hops=int(fields.get(b"hops", b"0")),
            error=fields.get(b"error", b"").decode(),
            bus=bus,
        )
    except (KeyError, ValueError, orjson.JSONDecodeError):
        return None
