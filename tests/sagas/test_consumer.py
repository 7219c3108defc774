"""sagas.consumer.QueueConsumer against a real Redis (single and cluster): a message rejected as poison is
acknowledged exactly when its rejection is written, even when the consumer stops in between."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from router.keys import Keys
from sagas.connect import connect
from sagas.consumer import ConsumerOptions, QueueConsumer, QueueMessage
from tests.sagas._support import enqueue
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def r(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(redis_url)
    yield client
    await client.aclose()


async def test_a_stop_while_a_poison_message_is_being_rejected_still_acknowledges_it(r: Any) -> None:
    stream = Keys().queue("poison-q")
    await enqueue(r, "poison-q", {"n": 1}, "d1:rule:t")
    rejected: list[bytes] = []

    async def never_done(message: QueueMessage) -> bool:
        return False

    async def slow_reject(message: QueueMessage) -> None:
        rejected.append(message.entry_id)  # the rejection is recorded, then the stop comes before it returns
        await asyncio.sleep(0.3)

    options = ConsumerOptions(block_ms=20, claim_idle_s=0.02, claim_interval_s=0.02, max_deliveries=1)
    consumer = QueueConsumer(r, stream, "g", never_done, options=options, on_poison=slow_reject)
    await consumer.start()
    try:
        await eventually(lambda: bool(rejected), what="the rejection to start")
    finally:
        await consumer.stop()
    assert len(rejected) == 1
    assert (await r.xpending(stream, "g"))["pending"] == 0
    assert await r.xlen(stream) == 0
