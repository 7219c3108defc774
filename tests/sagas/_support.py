"""Test helpers for the saga runtime: a publisher that records what it is asked to publish (and can fail on
purpose), a small state machine, and queue messages written the way the router writes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from router.delivery.queues import message_fields
from router.keys import Keys
from sagas import TIMEOUT, Assign, Final, On, Publish, State, StateMachine
from sagas.machine import Definition
from sagas.publish import EventEntry


class RecordingPublisher:
    """Accepts every entry (or refuses / fails as told) and keeps what it accepted."""

    def __init__(self) -> None:
        self.published: list[EventEntry] = []
        self.fail_transient = 0
        """Fail this many publish calls with a DispatchError before accepting again."""
        self.refuse: set[str] = set()
        """Detail-types answered with a permanent per-entry error."""

    async def publish(self, entries: Sequence[EventEntry]) -> list[str | None]:
        from sagas.errors import DispatchError

        if self.fail_transient > 0:
            self.fail_transient -= 1
            raise DispatchError("PutEvents failed: HTTP 503")
        out: list[str | None] = []
        for entry in entries:
            if entry.detail_type in self.refuse:
                out.append("MalformedDetail: Detail is malformed.")
            else:
                self.published.append(entry)
                out.append(None)
        return out

    async def aclose(self) -> None:
        return None

    def types(self) -> list[str]:
        return [e.detail_type for e in self.published]


def counter_machine(name: str = "counter", queue: str = "counter-saga", timeout_s: float = 60.0) -> Definition:
    """Started by Start, counts Add events while open, ends on Stop (publishing Done) or after `timeout_s`."""
    return StateMachine(
        name=name,
        queue=queue,
        correlate="detail.id",
        start=[On("Start", to="open", do=[Assign(lambda ctx: {"count": 0})])],
        states=[
            State(
                "open",
                timeout_s=timeout_s,
                on=[
                    On("Add", do=[Assign(lambda ctx: {"count": ctx.data["count"] + 1})]),
                    On("Stop", to="done"),
                    On(TIMEOUT, to="expired"),
                ],
            ),
            Final("done", enter=[Publish("Done", lambda ctx: {"count": ctx.data["count"]})]),
            Final("expired", "FAILED", enter=[Publish("Expired")]),
        ],
    ).compile()


def event(detail_type: str, event_id: str, **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": "tests",
        "account": "123456789012",
        "time": "2030-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


async def enqueue(redis: aioredis.Redis, queue: str, body: bytes | dict[str, Any], delivery_id: str) -> None:
    """Append a message to a queue target's stream, as a rule delivery does (router.delivery.queues)."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    fields: Any = message_fields(delivery_id, raw)
    await redis.xadd(Keys().queue(queue), fields)
