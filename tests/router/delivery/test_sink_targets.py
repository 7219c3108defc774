"""The delivery sink reads the targets of the rules a batch matched, not of every rule on the bus (issue 7 item 4).

Reading every rule's targets on each version change cost 100-370 ms of event-loop CPU per rule change on a bus of
10,000 rules, so unrelated PutEvents waited while rules changed. A change now empties the cache and the next batch
reads only its matched rules' targets.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from router.arns import Arns
from router.delivery.sink import DeliverySink
from router.keys import Keys
from router.matchers import compile_rules

pytestmark = pytest.mark.integration

KEYS = Keys()
BUS = "default"
RULES = 2_000


def _records() -> dict[bytes, bytes]:
    record = {"Name": "r", "EventPattern": '{"source": ["s"]}'}
    return {f"r{i}".encode(): orjson.dumps({**record, "Name": f"r{i}"}) for i in range(RULES)}


async def test_a_batch_reads_only_the_targets_of_the_rules_it_matched(redis_client: aioredis.Redis) -> None:
    for rule in ("r1", "r2"):
        target = {"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:123456789012:q-{rule}"}
        await redis_client.hset(KEYS.targets(BUS, rule), "q", orjson.dumps(target))
    sink = DeliverySink(redis_client, KEYS, Arns("us-east-1", "123456789012"))
    first = compile_rules(BUS, 1, _records())
    await sink.prepare(BUS, first, {"r1"})
    cached = sink._buses[BUS]
    assert (cached.version, list(cached.rules)) == (1, ["r1"])
    assert [target.target["Arn"] for target in cached.rules["r1"]] == ["arn:aws:sqs:us-east-1:123456789012:q-r1"]
    await sink.prepare(BUS, first, {"r1", "r5"})  # r1 is held at this version: only r5 is read
    assert sorted(sink._buses[BUS].rules) == ["r1", "r5"]
    assert sink._buses[BUS].rules["r5"] == ()
    second = compile_rules(BUS, 2, _records())  # a rule or target changed: nothing read before is trusted
    await sink.prepare(BUS, second, {"r2"})
    cached = sink._buses[BUS]
    assert (cached.version, list(cached.rules)) == (2, ["r2"])
    await sink.prepare(BUS, second)  # no rules named: every rule of the bus, as before
    assert len(sink._buses[BUS].rules) == RULES
    lanes: Any = await redis_client.smembers(KEYS.delivery_lanes(BUS))
    assert {lane.decode() for lane in lanes} == {KEYS.deliveries(BUS, rule, "q") for rule in ("r1", "r2")}
