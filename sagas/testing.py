"""An in-memory harness for a saga definition: unit-test its decisions without Redis, a router or a clock.

    harness = Harness(order_to_cash(...))
    harness.deliver(event("OrderSubmitted", orderId="o-1", amount=20))
    assert harness.sent_types() == ["ChargePayment"]
    harness.reply("PaymentSucceeded")        # a reply to the last message sent, carrying its `saga` member
    harness.advance(30)                        # fires the timers due within 30 s, in due order

It keeps what sagas.store keeps (the instance, the ids of the inputs seen, the pending timers) and applies the
engine's decisions the way the runtime does, except that outgoing messages land in `sent` at once. A duplicate
input (an id already seen) is dropped exactly as the store drops it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagas.context import SagaMessage
from sagas.engine import Decision, Input, decide
from sagas.instance import Instance
from sagas.keys import instance_key
from sagas.machine import Definition

__all__ = ["Harness", "make_event"]

_counter = itertools.count(1)


def make_event(detail_type: str, source: str = "tests", **detail: Any) -> dict[str, Any]:
    """An EventBridge envelope with a fresh id."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2030-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


@dataclass
class Harness:
    definition: Definition
    now_ms: int = 1_900_000_000_000
    instances: dict[str, Instance] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sent: list[SagaMessage] = field(default_factory=list)
    timers: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    """(instance id, timer name) -> (due ms, generation)."""
    duplicates: int = 0

    def deliver(self, event: Mapping[str, Any], delivery_id: str | None = None) -> Decision | None:
        """Hand one event to the saga, as its queue consumer would; None when it is a duplicate."""
        instance_id = self.definition.correlation(event)
        if instance_id is None:
            return None
        return self._handle(instance_id, Input.from_event(event, delivery_id))

    def reply(self, detail_type: str, to: SagaMessage | None = None, **detail: Any) -> Decision | None:
        """A service's reply to `to` (default: the last event or command sent), carrying its `saga` member."""
        message = to if to is not None else self.last_sent()
        body = dict(message.get("detail") or message.get("body") or {})
        merged = {k: v for k, v in body.items() if k != "saga"}
        merged.update(detail)
        merged["saga"] = body["saga"]
        return self.deliver(make_event(detail_type, **merged))

    def control(self, instance_id: str, name: str) -> Decision | None:
        return self._handle(instance_id, Input.from_control(name, f"harness-{next(_counter)}"))

    def advance(self, seconds: float) -> list[Decision]:
        """Move time forward, firing every timer that falls due, in due order."""
        target = self.now_ms + int(seconds * 1000)
        decisions: list[Decision] = []
        while True:
            due = sorted((d, k) for k, (d, _) in self.timers.items() if d <= target)
            if not due:
                break
            due_ms, key = due[0]
            self.now_ms = max(self.now_ms, due_ms)
            _, gen = self.timers.pop(key)
            decision = self._handle(key[0], Input.from_timer(key[1], gen))
            if decision is not None:
                decisions.append(decision)
        self.now_ms = target
        return decisions

    def _handle(self, instance_id: str, inp: Input) -> Decision | None:
        seen = self.seen.setdefault(instance_id, set())
        if any(i in seen for i in inp.ids):
            self.duplicates += 1
            return None
        decision = decide(
            self.definition,
            self.instances.get(instance_id),
            inp,
            now_ms=self.now_ms,
            instance_id=instance_id,
            instance_key=instance_key(instance_id),
        )
        if not decision.commit or decision.instance is None:
            return decision
        self.instances[instance_id] = decision.instance
        seen.update(decision.seen)
        self.history.setdefault(instance_id, []).extend(decision.history)
        for message in decision.messages:
            if message["kind"] == "timer":
                self.timers[(instance_id, message["name"])] = (int(message["due_ms"]), int(message["gen"]))
            elif message["kind"] == "cancel":
                self.timers.pop((instance_id, message["name"]), None)
            else:
                self.sent.append(message)
        return decision

    # reading ------------------------------------------------------------------------------------------------
    def instance(self, instance_id: str) -> Instance:
        return self.instances[instance_id]

    def last_sent(self) -> SagaMessage:
        return self.sent[-1]

    def sent_types(self, instance_id: str | None = None) -> list[str]:
        """Detail-types (or `queue Q`) of what was sent, in order (for one instance, or all)."""
        out = []
        for message in self.sent:
            meta = (message.get("detail") or message.get("body") or {}).get("saga", {})
            if instance_id is not None and meta.get("id") != instance_id:
                continue
            out.append(message["detail_type"] if message["kind"] == "event" else f"queue {message['queue']}")
        return out

    def pending_timers(self, instance_id: str) -> list[str]:
        return sorted(name for (iid, name) in self.timers if iid == instance_id)
