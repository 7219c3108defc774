"""What a saga's actions and guards see, and the only way they act: `Context`.

Actions run inside the engine's decision (sagas.engine), which must be deterministic and free of I/O: it may run
again after an optimistic-concurrency conflict, and only the committed run counts. So an action never sends
anything itself. `ctx.publish` (an event onto a bus, through PutEvents), `ctx.send` (a command onto a queue),
`ctx.schedule` / `ctx.cancel` (durable timers) only record outgoing messages; they are committed with the new state
into the instance's outbox and dispatched after the commit (sagas.outbox). Time is `ctx.now_ms`, never the clock.

Every outgoing message gets a message id (`TYPE/ID/SEQ`), unique and stable: a redelivered copy of it has the same
id, so receivers drop duplicates by it. Events and commands carry it, with the saga's type and instance id, in a
`saga` member of their detail (or body): `{"type", "id", "messageId", "state", "attempt"}`. A service that replies
copies that member into its reply, which lets the saga drop a reply to an attempt it has given up on (a stale
reply) and recognise a duplicate reply. `ctx.key` is an idempotency key that stays the same over the attempts of
one state (`TYPE/ID/STATE`): give it to a service so that a retried charge is never charged twice.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sagas.errors import SagaDefinitionError
from sagas.instance import Instance, TimerRecord

__all__ = ["Context", "SagaMessage"]

SagaMessage = dict[str, Any]
"""An outbox entry (JSON): `kind` event | command | timer | cancel, `seq`, and the kind's members."""

_MAX_DELAY_S = 366 * 24 * 3600.0
_TIMER_NAME = re.compile(r"[A-Za-z0-9._:\-]{1,64}")


class Context:
    """The instance being decided on, the input, and the outgoing messages recorded so far."""

    def __init__(
        self,
        instance: Instance,
        *,
        now_ms: int,
        event: dict[str, Any] | None = None,
        timer: str | None = None,
        control: str | None = None,
        default_bus: str = "default",
        default_source: str = "",
    ) -> None:
        self.instance = instance
        self.now_ms = now_ms
        self.event = event
        """The event being handled (the whole EventBridge envelope), or None for a timer or a control input."""
        self.timer = timer
        """The timer that fired, or None."""
        self.control = control
        self.entering: str | None = None
        """While a transition's actions run: the state it goes to (timers they schedule belong to that state)."""
        self.messages: list[SagaMessage] = []
        self.notes: list[str] = []
        self._default_bus = default_bus
        self._default_source = default_source

    # what the instance holds --------------------------------------------------------------------------------
    @property
    def saga(self) -> str:
        return self.instance.saga

    @property
    def id(self) -> str:
        return self.instance.id

    @property
    def state(self) -> str:
        return self.instance.state

    @property
    def data(self) -> dict[str, Any]:
        """The instance's own data (JSON values): record what later steps need (amount, tracking id, ...)."""
        return self.instance.data

    @property
    def detail(self) -> dict[str, Any]:
        """The event's `detail` ({} when there is no event or no object detail)."""
        detail = (self.event or {}).get("detail")
        return detail if isinstance(detail, dict) else {}

    @property
    def attempt(self) -> int:
        """Entries into the current state in a row: 1, then 2 on the first retry, ..."""
        return self.instance.attempts.get(self.instance.state, 1)

    @property
    def key(self) -> str:
        """An idempotency key for the current state, the same over its retries (`TYPE/ID/STATE`)."""
        return f"{self.instance.saga}/{self.instance.id}/{self.instance.state}"

    # acting -------------------------------------------------------------------------------------------------
    def _metadata(self, message_id: str) -> dict[str, Any]:
        return {
            "type": self.instance.saga,
            "id": self.instance.id,
            "messageId": message_id,
            "state": self.instance.state,
            "attempt": self.attempt,
        }

    def publish(
        self,
        detail_type: str,
        detail: dict[str, Any] | None = None,
        *,
        source: str | None = None,
        bus: str | None = None,
    ) -> str:
        """Publish an event (PutEvents) after the commit; returns its message id."""
        body = dict(detail or {})
        seq = self.instance.next_seq()
        message_id = self.instance.message_id(seq)
        body["saga"] = self._metadata(message_id)
        self.messages.append(
            {
                "kind": "event",
                "seq": seq,
                "id": message_id,
                "bus": bus or self._default_bus,
                "source": source or self._default_source,
                "detail_type": detail_type,
                "detail": body,
            }
        )
        return message_id

    def send(self, queue: str, body: dict[str, Any] | None = None) -> str:
        """Send a command straight onto a queue (`sb:{queue:Q}:messages`) after the commit; returns its id."""
        payload = dict(body or {})
        seq = self.instance.next_seq()
        message_id = self.instance.message_id(seq)
        payload["saga"] = self._metadata(message_id)
        self.messages.append({"kind": "command", "seq": seq, "id": message_id, "queue": queue, "body": payload})
        return message_id

    def schedule(self, name: str, delay_s: float, *, scope: str | None = None) -> None:
        """A durable timer `name` firing in `delay_s` (replacing one of the same name). It belongs to the current
        state (in a transition's actions: the state it goes to) unless `scope=""` (the whole instance): leaving the
        state cancels it."""
        if not _TIMER_NAME.fullmatch(name):
            raise SagaDefinitionError(f"timer name {name!r}: use 1-64 letters, digits, '.', '-', '_' or ':'")
        if not (isinstance(delay_s, int | float) and math.isfinite(delay_s) and 0 <= delay_s <= _MAX_DELAY_S):
            raise SagaDefinitionError(f"timer {name!r}: delay {delay_s!r} is not a number of seconds in 0..1 year")
        seq = self.instance.next_seq()
        due_ms = self.now_ms + int(delay_s * 1000)
        owner_scope = scope if scope is not None else (self.entering or self.instance.state)
        self.instance.timers[name] = TimerRecord(seq, due_ms, owner_scope)
        self.messages.append({"kind": "timer", "seq": seq, "name": name, "due_ms": due_ms, "gen": seq})

    def cancel(self, name: str) -> bool:
        """Cancel a pending timer; False when there is none of that name."""
        if self.instance.timers.pop(name, None) is None:
            return False
        seq = self.instance.next_seq()
        self.messages.append({"kind": "cancel", "seq": seq, "name": name})
        return True

    def note(self, text: str) -> None:
        """A line for the instance's history (shown by `switchboard saga status` and the pages)."""
        self.notes.append(str(text)[:500])
