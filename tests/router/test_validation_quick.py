"""router.validation's quick predicates accept exactly what the full checks accept: for every EventBridge operation
(and the Scheduler's, through `validator_for`), requests generated from the model, mostly valid, with wrong types,
nulls, missing required members, strings beside their patterns and lengths, lists and maps at their bounds. A quick
predicate that said yes where the full check finds a violation would let a bad request through; one that said no
where the full check passes only costs time, but is still a difference this test reports."""

from __future__ import annotations

import random
from typing import Any

import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape

from router import validation
from router.errors import SerializationException, ValidationException
from router.model import events_model

STRINGS = [
    "",
    "a",
    "abc-DEF_1.2",
    "bad name!",
    "x" * 64,
    "x" * 65,
    "x" * 257,
    "x" * 2049,
    "default",
    "arn:aws:events:us-east-1:123456789012:event-bus/orders",
    "arn:aws:events:us-east-1:123456789012:rule/r",
    "rate(5 minutes)",
    "POST",
    "post",
    "ENABLED",
    "a.b",
    '{"source": ["x"]}',
    "ü" * 3,
]


def _value(shape: Shape, rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if roll < 0.04:
        return None
    if roll < 0.08:  # a wrong type
        return rng.choice([1, 2.5, True, "s", [], {}, [None]])
    if isinstance(shape, StructureShape):
        body: dict[str, Any] = {}
        for name, member in shape.members.items():
            if name in shape.required_members:
                if rng.random() > 0.03:
                    body[name] = _value(member, rng, depth + 1)
            elif rng.random() < 0.5 and depth < 5:
                body[name] = _value(member, rng, depth + 1)
        if rng.random() < 0.1:
            body["NotAMember"] = rng.choice(["x", 1, None])
        return body
    if isinstance(shape, ListShape):
        high = shape.metadata.get("max", 12)
        size = rng.choice([0, 1, 2, min(high, 12), min(high + 1, 13)])
        return [_value(shape.member, rng, depth + 1) for _ in range(size if depth < 5 else 0)]
    if isinstance(shape, MapShape):
        return {rng.choice(STRINGS): _value(shape.value, rng, depth + 1) for _ in range(rng.choice([0, 1, 3]))}
    kind = shape.type_name
    if kind == "string":
        enum = shape.metadata.get("enum")
        if enum and rng.random() < 0.6:
            return rng.choice(enum)
        return rng.choice(STRINGS)
    if kind in ("integer", "long"):
        return rng.choice([-1, 0, 1, 5, 10, 100, 300, 86_400, 10**9])
    if kind == "boolean":
        return rng.choice([True, False])
    if kind in ("timestamp", "float", "double"):
        return rng.choice([0, 1.5, 1_700_000_000])
    return "aGVsbG8="


def _full_passes(check: Any, body: dict[str, Any]) -> bool:
    try:
        validation._run(check, body)
    except (ValidationException, SerializationException):
        return False
    return True


@pytest.mark.parametrize("seed", range(3))
def test_quick_predicates_accept_exactly_what_the_full_checks_accept(seed: int) -> None:
    rng = random.Random(seed)
    model = events_model()
    differences = []
    outcomes = {True: 0, False: 0}
    for operation in model.operation_names:
        shape = model.operation_model(operation).input_shape
        if shape is None:
            continue
        quick, check = validation._compile_operation(operation)
        for _ in range(40):
            body = _value(shape, rng, 0)
            if not isinstance(body, dict):
                continue
            full = _full_passes(check, body)
            outcomes[full] += 1
            if quick(body) != full:
                differences.append((operation, body, full))
    assert differences == []
    assert min(outcomes.values()) > 200  # both outcomes were exercised, many times


def test_put_events_requests_of_every_shape_the_router_sees() -> None:
    quick, check = validation._compile_operation("PutEvents")
    entry = {"Source": "s", "DetailType": "t", "Detail": "{}"}
    accepted: list[dict[str, Any]] = [
        {"Entries": [entry] * 10},
        {"Entries": [{**entry, "EventBusName": "orders", "Resources": ["arn:x"], "Time": 1_700_000_000}]},
        {"Entries": [{**entry, "TraceHeader": "Root=1"}], "EndpointId": "abc.def"},
        {"Entries": [{**entry, "Time": None, "EventBusName": None}]},
    ]
    refused: list[dict[str, Any]] = [
        {"Entries": [entry] * 11},
        {"Entries": []},
        {},
        {"Entries": [{**entry, "Source": 5}]},
        {"Entries": [{**entry, "Time": "2024-01-01T00:00:00Z"}]},
        {"Entries": [{**entry, "EventBusName": "bad name!"}]},
        {"Entries": [{**entry, "TraceHeader": ""}]},
        {"Entries": [{**entry, "Resources": ["x" * 2049]}]},
        {"Entries": [{**entry, "Resources": [None]}]},
        {"Entries": [None]},
        {"Entries": [entry], "EndpointId": "nodot"},
    ]
    for body in accepted:
        assert quick(body), body
        assert _full_passes(check, body), body
    for body in refused:
        assert not quick(body), body
        assert not _full_passes(check, body), body


def test_validator_for_other_services_runs_the_same_two_steps() -> None:
    from router.schedules.scheduler.protocol import scheduler_model

    model = scheduler_model()
    rng = random.Random(7)
    for operation in model.operation_names:
        shape = model.operation_model(operation).input_shape
        if shape is None:
            continue
        validate = validation.validator_for(shape)
        check = validation._compile_structure(shape, {})
        quick = validation._quick_structure(shape, {})
        for _ in range(30):
            body = _value(shape, rng, 0)
            if not isinstance(body, dict):
                continue
            full = _full_passes(check, body)
            assert quick(body) == full, (operation, body)
            if full:
                validate(body)
            else:
                with pytest.raises((ValidationException, SerializationException)):
                    validate(body)
