"""`router.matchers` without Redis: what a bus's compiled matcher does with hostile stored patterns.

A pattern PutRule would refuse can still reach the rules hash (written by an older version, or by hand). It must be
left out with its error while the bus's other rules keep matching, and a pattern PutRule accepts must never make
matching raise.
"""

from __future__ import annotations

import json

import orjson

from patterns.parser import MAX_STATES_PER_RULE
from router.matchers import compile_rules

BUS = "default"


def _record(name: str, pattern: str) -> bytes:
    return orjson.dumps({"Name": name, "EventPattern": pattern, "State": "ENABLED"})


def _event(**detail: object) -> bytes:
    return orjson.dumps({"source": "orders", "detail-type": "t", "detail": detail})


def test_a_pattern_with_a_600_segment_field_name_matches_beside_other_rules() -> None:
    deep = ".".join(["a"] * 600)
    records = {
        b"orders": _record("orders", '{"source": ["orders"]}'),
        b"deep": _record("deep", json.dumps({"detail": {deep: ["x"]}})),
    }
    compiled = compile_rules(BUS, 1, records)
    assert compiled.broken == {}
    for _ in range(20):  # past the specialisation warm-up too
        assert compiled.match(_event(**{deep: "x"})) == ["deep", "orders"]
        assert compiled.match(_event(other=1)) == ["orders"]


def test_a_stored_pattern_beyond_the_bounds_is_left_out_and_the_others_match() -> None:
    branches = [{f"b{i}": [1]} for i in range(60)]
    big = json.dumps({"x": {"$or": branches}, **{f"z{i:03d}": [1] for i in range(200)}})
    records = {b"orders": _record("orders", '{"source": ["orders"]}'), b"big": _record("big", big)}
    compiled = compile_rules(BUS, 3, records)
    assert set(compiled.rule_names) == {"orders"}
    assert f"more than {MAX_STATES_PER_RULE} matcher states" in compiled.broken["big"]
    assert compiled.match(_event()) == ["orders"]
