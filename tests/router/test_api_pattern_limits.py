"""PutRule and TestEventPattern at the pattern compiler's bounds (docs/patterns.md "Bounds"), in process.

A pattern beyond a bound gets a 400 InvalidEventPatternException with AWS's prefix and the rule already in force
stays untouched; a pattern within the bounds, however deep, is accepted and answers (never a 500).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import orjson
import pytest

from patterns.parser import MAX_STATES_PER_RULE
from tests.router.conftest import Api
from tests.router.control_plane import EVENT, PATTERN, control_api

pytestmark = pytest.mark.integration

DEEP = ".".join(["a"] * 600)
TOO_MANY_STATES = json.dumps(
    {"x": {"$or": [{f"b{i}": [1]} for i in range(60)]}, **{f"z{i:03d}": [1] for i in range(200)}}
)
STATES_REASON = (
    "Event pattern is not valid. Reason: The pattern needs more than "
    f"{MAX_STATES_PER_RULE} matcher states (fields times $or alternatives)"
)


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    async with control_api(redis_url) as client:
        yield client


async def test_put_rule_beyond_the_states_bound_is_refused_and_the_old_rule_stays(api: Api) -> None:
    await api.ok("PutRule", {"Name": "r", "EventPattern": PATTERN})
    status, code, message = await api.error("PutRule", {"Name": "r", "EventPattern": TOO_MANY_STATES})
    assert (status, code) == (400, "InvalidEventPatternException")
    assert message.startswith(STATES_REASON + '\n at [Source: (String)"{')
    assert (await api.ok("DescribeRule", {"Name": "r"}))["EventPattern"] == PATTERN


async def test_put_rule_with_a_600_segment_field_name_is_accepted(api: Api) -> None:
    pattern = json.dumps({"detail": {DEEP: ["x"]}})
    await api.ok("PutRule", {"Name": "deep", "EventPattern": pattern})
    assert (await api.ok("DescribeRule", {"Name": "deep"}))["EventPattern"] == pattern


async def test_test_event_pattern_answers_for_deep_patterns_and_refuses_oversized_ones(api: Api) -> None:
    event = orjson.dumps({**EVENT, "detail": {DEEP: "x"}}).decode()
    deep = json.dumps({"detail": {DEEP: ["x"]}})
    assert await api.ok("TestEventPattern", {"EventPattern": deep, "Event": event}) == {"Result": True}
    other = orjson.dumps(EVENT).decode()
    assert await api.ok("TestEventPattern", {"EventPattern": deep, "Event": other}) == {"Result": False}
    status, code, message = await api.error("TestEventPattern", {"EventPattern": TOO_MANY_STATES, "Event": other})
    assert (status, code) == (400, "InvalidEventPatternException")
    assert message.startswith(STATES_REASON)
