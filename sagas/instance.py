"""One saga instance: the orchestration state that lives in Redis between two messages (never the services' data).

An `Instance` is what the engine (sagas.engine) reads and returns and what sagas.store commits: the current state
and its status, the user's `data`, the timers it has pending, attempt counts, the message ids it is waiting for
replies to, and per-step records for sagas declared as steps. It is stored as one JSON document
(`sb:{saga:T:ID}:state` field `doc`, sagas.keys) with its `version` beside it, which every commit compares and
increments: two processes handling events of one instance never both commit (optimistic concurrency, no lock).

Statuses: `RUNNING`, `WAITING` (for a person or an external system), `COMPENSATING` and `PARKED` (a compensation
that kept failing, waiting for an operator) are not final; `COMPLETED`, `COMPENSATED`, `CANCELLED` and `FAILED` are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "CANCELLED",
    "COMPENSATED",
    "COMPENSATING",
    "COMPLETED",
    "FAILED",
    "FINAL_STATUSES",
    "PARKED",
    "RUNNING",
    "START",
    "STATUSES",
    "WAITING",
    "Instance",
    "TimerRecord",
]

RUNNING = "RUNNING"
WAITING = "WAITING"
COMPENSATING = "COMPENSATING"
PARKED = "PARKED"
COMPLETED = "COMPLETED"
COMPENSATED = "COMPENSATED"
CANCELLED = "CANCELLED"
FAILED = "FAILED"
FINAL_STATUSES = frozenset({COMPLETED, COMPENSATED, CANCELLED, FAILED})
STATUSES = (RUNNING, WAITING, COMPENSATING, PARKED, COMPLETED, COMPENSATED, CANCELLED, FAILED)

START = "(start)"
"""The state an instance is in before its first transition (never stored: the first commit leaves it)."""


@dataclass(slots=True)
class TimerRecord:
    gen: int
    """The message sequence number that scheduled it: a firing that carries another one is stale."""
    due_ms: int
    scope: str
    """The state it belongs to (cancelled when the instance leaves that state), or "" for the whole instance."""


@dataclass(slots=True)
class Instance:
    saga: str
    id: str
    """The correlation value (e.g. the order id), as the events carry it."""
    key: str
    """The id as it appears in Redis keys (sagas.keys.instance_key)."""
    state: str = START
    status: str = RUNNING
    data: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    created_ms: int = 0
    updated_ms: int = 0
    seq: int = 0
    """Messages (and timers) this instance has produced: each gets the next number."""
    timers: dict[str, TimerRecord] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    """State -> entries into it in a row (1 on the first entry, +1 on each re-entry: a retry)."""
    entered_ms: dict[str, int] = field(default_factory=dict)
    """State -> when the current run of attempts began (the first entry)."""
    expecting: list[str] = field(default_factory=list)
    """Message ids sent since the last state change: a reply that names another message is stale."""
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Step sagas (sagas.steps): step -> {status, attempts, started_ms, ended_ms}, in the order they ran."""

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def message_id(self, seq: int) -> str:
        return f"{self.saga}/{self.id}/{seq}"

    def to_doc(self) -> dict[str, Any]:
        return {
            "saga": self.saga,
            "id": self.id,
            "key": self.key,
            "state": self.state,
            "status": self.status,
            "data": self.data,
            "version": self.version,
            "created_ms": self.created_ms,
            "updated_ms": self.updated_ms,
            "seq": self.seq,
            "timers": {n: [t.gen, t.due_ms, t.scope] for n, t in self.timers.items()},
            "attempts": self.attempts,
            "entered_ms": self.entered_ms,
            "expecting": self.expecting,
            "steps": self.steps,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Instance:
        return cls(
            saga=str(doc["saga"]),
            id=str(doc["id"]),
            key=str(doc["key"]),
            state=str(doc["state"]),
            status=str(doc["status"]),
            data=dict(doc.get("data") or {}),
            version=int(doc.get("version", 0)),
            created_ms=int(doc.get("created_ms", 0)),
            updated_ms=int(doc.get("updated_ms", 0)),
            seq=int(doc.get("seq", 0)),
            timers={n: TimerRecord(int(t[0]), int(t[1]), str(t[2])) for n, t in (doc.get("timers") or {}).items()},
            attempts={k: int(v) for k, v in (doc.get("attempts") or {}).items()},
            entered_ms={k: int(v) for k, v in (doc.get("entered_ms") or {}).items()},
            expecting=[str(m) for m in doc.get("expecting") or []],
            steps={k: dict(v) for k, v in (doc.get("steps") or {}).items()},
        )

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_doc())

    @classmethod
    def loads(cls, raw: bytes) -> Instance:
        return cls.from_doc(orjson.loads(raw))

    def copy(self) -> Instance:
        """A deep copy (through JSON, which the document is: several times cheaper than copy.deepcopy)."""
        return Instance.loads(self.dumps())
