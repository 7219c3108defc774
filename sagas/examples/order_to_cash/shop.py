"""The shop: plans orders (with their injected faults), submits them as OrderSubmitted through PutEvents, and
watches the `order-outcomes` queue for how each ended.

`plan(count, seed, faults)` is deterministic: the same seed gives the same orders, amounts and faults. A share
`faults` of the orders gets one fault, drawn evenly from `FAULTS` (services.py says how each is staged); a few
orders are large and wait for an approval. Each order knows the status it should end in (`expected`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis

from router.keys import Keys
from sagas.batching import Coalescer
from sagas.consumer import ConsumerOptions, QueueConsumer, QueueMessage
from sagas.instance import CANCELLED, COMPENSATED, COMPLETED
from sagas.publish import EventEntry, Publisher

__all__ = ["FAULTS", "OUTCOMES_QUEUE", "Order", "Shop", "plan"]

OUTCOMES_QUEUE = "order-outcomes"

FAULTS: dict[str, str] = {
    "declined": CANCELLED,
    "lost-reply": COMPLETED,
    "out-of-stock": COMPENSATED,
    "provider-flaky": COMPLETED,
    "provider-down": COMPENSATED,
    "refund-fails": COMPENSATED,
    "duplicate-answers": COMPLETED,
    "approval-rejected": COMPENSATED,
    "approval-absent": COMPENSATED,
}
"""Fault -> the status the order must end in."""

LARGE_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    amount: int
    fault: str
    """"" for none."""
    large: bool
    expected: str
    detail: dict[str, Any] = field(hash=False, compare=False)


def plan(
    count: int,
    seed: int,
    faults: float,
    *,
    approval_threshold: int = 100_000,
    kinds: Sequence[str] | None = None,
) -> list[Order]:
    """`count` orders; a share `faults` of them with one fault drawn from `kinds` (default: all of FAULTS)."""
    rng = random.Random(seed)
    orders: list[Order] = []
    kinds = sorted(FAULTS if kinds is None else kinds)
    for index in range(count):
        order_id = f"o-{seed}-{index:06d}"
        fault = rng.choice(kinds) if rng.random() < faults else ""
        large = fault.startswith("approval-") or rng.random() < LARGE_SHARE
        amount = rng.randint(approval_threshold, 5 * approval_threshold) if large else rng.randint(500, 50_000)
        qty = rng.randint(1, 3)
        detail: dict[str, Any] = {
            "orderId": order_id,
            "amount": amount,
            "currency": "EUR",
            "customer": f"c-{rng.randint(1, 999):03d}",
            "items": [{"sku": f"sku-{rng.randint(1, 50):02d}", "qty": qty}],
            "card": "tok_visa",
            "address": "1 Main Street",
        }
        if fault == "declined":
            detail["card"] = "declined"
        elif fault == "lost-reply":
            detail["card"] = "lost-reply"
        elif fault == "out-of-stock":
            detail["items"] = [{"sku": "out-of-stock", "qty": qty}]
        elif fault == "provider-flaky":
            detail["address"] = "provider-down:2"
        elif fault == "provider-down":
            detail["address"] = "provider-down:99"
        elif fault == "refund-fails":
            detail["items"] = [{"sku": "out-of-stock", "qty": qty}]
            detail["card"] = "refund-fails:2"
        elif fault == "duplicate-answers":
            detail["customer"] = f"duplicate-{detail['customer']}"
        elif fault == "approval-rejected":
            detail["customer"] = f"reject-{detail['customer']}"
        elif fault == "approval-absent":
            detail["customer"] = f"absent-{detail['customer']}"
        expected = FAULTS[fault] if fault else COMPLETED
        orders.append(Order(order_id, amount, fault, large, expected, detail))
    return orders


class Shop:
    def __init__(
        self,
        redis: aioredis.Redis,
        publisher: Publisher,
        *,
        prefix: str = "sb",
        bus: str = "orders",
        options: ConsumerOptions | None = None,
        batch: Coalescer | None = None,
    ) -> None:
        self.publisher = publisher
        self.bus = bus
        self.submitted_at: dict[str, float] = {}
        self.outcomes: dict[str, tuple[str, float]] = {}
        """Order id -> (the outcome's detail-type, when it arrived: time.monotonic())."""
        self.attention: set[str] = set()
        self._open: set[str] = set()
        self._changed = asyncio.Event()
        self.consumer = QueueConsumer(
            redis, Keys(prefix).queue(OUTCOMES_QUEUE), "o2c-shop", self._on_outcome, options=options, batch=batch
        )

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def _on_outcome(self, message: QueueMessage) -> bool:
        event = orjson.loads(message.body)
        order_id = str(event.get("detail", {}).get("orderId"))
        detail_type = str(event.get("detail-type"))
        if detail_type == "OrderNeedsAttention":
            self.attention.add(order_id)
        elif order_id not in self.outcomes:
            self.outcomes[order_id] = (detail_type, time.monotonic())
            self._open.discard(order_id)
        self._changed.set()
        return True

    async def submit(self, orders: Sequence[Order]) -> None:
        """Publish OrderSubmitted for each (PutEvents, 10 per request)."""
        now = time.monotonic()
        for order in orders:
            self.submitted_at.setdefault(order.id, now)
            if order.id not in self.outcomes:
                self._open.add(order.id)
        entries = [EventEntry(self.bus, "shop.orders", "OrderSubmitted", o.detail) for o in orders]
        problems = [p for p in await self.publisher.publish(entries) if p is not None]
        if problems:
            raise RuntimeError(f"PutEvents refused {len(problems)} orders: {problems[0]}")

    def finished(self, orders: Sequence[Order]) -> int:
        return sum(1 for o in orders if o.id in self.outcomes)

    async def run(self, orders: Sequence[Order], *, in_flight: int, timeout_s: float) -> bool:
        """Submit every order, keeping at most `in_flight` unfinished; True once all have an outcome."""
        deadline = time.monotonic() + timeout_s
        queue = list(orders)
        position = 0
        while True:
            room = in_flight - len(self._open)
            if room > 0 and position < len(queue):
                batch = queue[position : position + min(room, 200)]
                position += len(batch)
                await asyncio.gather(*(self.submit(batch[i : i + 10]) for i in range(0, len(batch), 10)))
                continue
            if position >= len(queue) and not self._open:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 1.0))

    def latencies_ms(self, orders: Sequence[Order], outcome: str = "OrderCompleted") -> list[float]:
        out = []
        for order in orders:
            got = self.outcomes.get(order.id)
            if got is not None and got[0] == outcome and order.id in self.submitted_at:
                out.append((got[1] - self.submitted_at[order.id]) * 1000)
        return sorted(out)
