"""Bad input never gets a 500: every served operation, fed random members of random JSON types, answers 200 or a
client error with an AWS error body (`__type`, `message`), never InternalException or a traceback.

The bodies follow each operation's input shape in the botocore model most of the time (so many get past validation
and reach the handlers and Redis), with values of every other JSON type mixed in: nested, empty and oversized. A fixed
seed keeps the run repeatable; a failure prints the operation and body that caused it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from router.model import events_model
from tests.router.control_plane import control_api

pytestmark = pytest.mark.integration

BODIES_PER_OPERATION = 60


def _value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(12 if depth < 3 else 8)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 1, 5, 10**20, -(2**63), 3.5, 1e308])
    if choice == 3:
        return rng.choice(["", "a", "default", "x" * 5000, "{}", '{"source": ["a"]}', "arn:aws:events:::", "é😀\u0000"])
    if choice == 4:
        return rng.choice(['{"a": []}', '{"detail": {"n": [{"numeric": [">", 1]}]}}', "[1, 2", "null"])
    if choice == 5:
        return rng.choice(["ENABLED", "DISABLED", "arn:aws:sqs:us-east-1:123456789012:q", "rate(5 minutes)"])
    if choice == 6:
        return []
    if choice == 7:
        return {}
    if choice in (8, 9):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(1, 12))]
    keys = rng.sample(["Id", "Arn", "Name", "Key", "Value", "Input", "Source", "Detail", "DetailType", "x"], 3)
    return {key: _value(rng, depth + 1) for key in keys}


_STRINGS = [
    "default",
    "orders",
    "r1",
    "t1",
    "",
    "x" * 300,
    '{"source": ["shop"]}',
    '{"detail": {"n": [{"numeric": [">", 1, "<", 0]}]}}',
    '{"a": [{"wildcard": "*:*:*:*:*:*"}]}',
    "$.detail",
    "arn:aws:events:us-east-1:123456789012:event-bus/orders",
    "arn:aws:events:us-east-1:123456789012:rule/orders/r1",
    "arn:aws:sqs:us-east-1:123456789012:q",
    "arn:aws:lambda:us-east-1:123456789012:function:f",
    "https://127.0.0.1:1/hook",
    "é😀",
]


def _typed(rng: random.Random, shape: Any, depth: int = 0) -> Any:
    """A value of the member's own type most of the time (to reach the handlers), of any type otherwise."""
    if rng.random() < 0.15 or depth > 4:
        return _value(rng, depth)
    kind = shape.type_name
    if kind == "structure":
        names = list(shape.members)
        chosen = rng.sample(names, rng.randrange(0, len(names) + 1))
        return {name: _typed(rng, shape.members[name], depth + 1) for name in chosen}
    if kind == "list":
        return [_typed(rng, shape.member, depth + 1) for _ in range(rng.randrange(0, 7))]
    if kind == "map":
        return {rng.choice(_STRINGS): _typed(rng, shape.value, depth + 1) for _ in range(rng.randrange(0, 3))}
    if kind == "string":
        enum = shape.metadata.get("enum")
        return rng.choice(enum) if enum and rng.random() < 0.7 else rng.choice(_STRINGS)
    if kind in ("integer", "long"):
        return rng.choice([0, 1, 5, 60, 185, 186, 86400, -3])
    if kind == "boolean":
        return rng.choice([True, False])
    if kind == "timestamp":
        return rng.choice([0, 1_704_067_200, 1_704_067_200.5, -5])
    return _value(rng, depth)


def _body(rng: random.Random, input_shape: Any) -> dict[str, Any]:
    body = _typed(rng, input_shape)
    return body if isinstance(body, dict) else {}


async def test_random_members_of_every_served_operation_never_get_a_server_error(
    redis_url: str, tmp_path: Path
) -> None:
    model = events_model()
    rng = random.Random(20261122)
    async with control_api(redis_url, data_dir=tmp_path) as api:
        served = sorted(api.app.state.dispatcher.handlers)
        assert {"PutRule", "PutEvents", "PutTargets", "CreateConnection"} <= set(served)
        for operation in served:
            input_shape = model.operation_model(operation).input_shape
            for _ in range(BODIES_PER_OPERATION):
                body = _body(rng, input_shape)
                # json (not orjson) so that out-of-range integers reach the server as text, as any client may send
                response = await api.raw(operation, json.dumps(body))
                assert response.status_code < 500, (operation, body, response.text)
                if response.status_code != 200:
                    error = orjson.loads(response.content)
                    assert set(error) == {"__type", "message"}, (operation, body, error)
                    assert error["__type"] != "InternalException", (operation, body, error)


async def test_bodies_that_are_not_objects_get_a_serialization_error(redis_url: str, tmp_path: Path) -> None:
    async with control_api(redis_url, data_dir=tmp_path) as api:
        for raw in [b"[]", b"3", b'"x"', b"null", b"{", b"\xff\xfe", b'{"Name": "a"' + b"}" * 3]:
            response = await api.raw("PutRule", raw)
            assert response.status_code == 400, raw
            assert orjson.loads(response.content)["__type"] == "SerializationException", raw
