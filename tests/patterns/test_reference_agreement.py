"""Property test: the compiled `Machine` agrees with the simple reference evaluator (`reference.py`).

Patterns and events are drawn from a small vocabulary of keys and values so that matches actually happen. Patterns
cover every operator, `$or` (nested), arrays of objects and nested arrays in events; the Machine holds several rules
(some names added twice, which ORs them) and some are deleted before matching. Generated patterns are valid by
construction, so `patterns.validate` must accept every one of them.

The reference is also checked against the AWS-recorded corpus, so a disagreement points at the Machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import patterns
from tests.patterns import reference
from tests.patterns._examples import examples

KEYS = ["a", "b", "c"]
STRINGS = ["", "x", "X", "xy", "yx", "ab", "a*b", "abc", "é", "É", "10.0.0.1", "10.0.1.9", "2001:db8::1", "2001:DB8::1"]
NUMBERS = [0, 1, 2.5, 300, 300.0, -1, 1000.0, 123456789012345678]
LITERALS = [True, False, None]
SCALARS = STRINGS + NUMBERS + LITERALS

scalars = st.sampled_from(SCALARS)

CONDITIONS = st.one_of(
    scalars,
    st.sampled_from(["x", "ab", "é", "a*b"]).map(lambda s: {"exactly": s}),
    st.sampled_from(["", "x", "a", "1", "É"]).map(lambda s: {"prefix": s}),
    st.sampled_from(["x", "A", "é"]).map(lambda s: {"prefix": {"equals-ignore-case": s}}),
    st.sampled_from(["x", "y", "b", "1"]).map(lambda s: {"suffix": s}),
    st.sampled_from(["Y", "B", "É"]).map(lambda s: {"suffix": {"equals-ignore-case": s}}),
    st.sampled_from(["", "x", "XY", "é", "AB"]).map(lambda s: {"equals-ignore-case": s}),
    st.sampled_from(["*", "", "x*", "*y", "a*b", "*b*", "a\\*b", "x*y"]).map(lambda s: {"wildcard": s}),
    st.sampled_from([[">", 0], ["<=", 2.5], ["=", 300], [">=", -1, "<", 3], [">", 0, "<=", 300], ["<", 0]]).map(
        lambda terms: {"numeric": terms}
    ),
    st.booleans().map(lambda b: {"exists": b}),
    st.sampled_from(
        [
            "x",
            "",
            ["x", "xy"],
            300,
            [0, 1],
            {"prefix": "x"},
            {"prefix": ["a", "é"]},
            {"suffix": "y"},
            {"equals-ignore-case": "X"},
            {"equals-ignore-case": ["AB", "xy"]},
            {"wildcard": "a*"},
            {"wildcard": ["*y", ""]},
        ]
    ).map(lambda spec: {"anything-but": spec}),
    st.sampled_from(["10.0.0.0/24", "10.0.0.0/16", "2001:db8::/32"]).map(lambda c: {"cidr": c}),
)

leaf_lists = st.lists(CONDITIONS, min_size=1, max_size=3)


@st.composite
def pattern_objects(draw: st.DrawFn, depth: int = 0, keys: tuple[str, ...] = tuple(KEYS)) -> dict[str, Any]:
    """A valid pattern object; `$or` branches use keys the enclosing level does not, so no path is set twice."""
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=min(2, len(keys)), unique=True))
    obj: dict[str, Any] = {}
    for key in chosen:
        if depth < 2 and draw(st.integers(0, 3)) == 0:
            obj[key] = draw(pattern_objects(depth + 1, tuple(KEYS)))
        else:
            obj[key] = draw(leaf_lists)
    free = tuple(k for k in keys if k not in chosen)
    if depth < 2 and free and draw(st.integers(0, 3)) == 0:
        branches = draw(st.lists(pattern_objects(depth + 1, free), min_size=2, max_size=3))
        obj["$or"] = branches
    return obj


# Events favour a few values the conditions often test, so that a fair share of examples match.
event_scalars = st.one_of(st.sampled_from(["x", "xy", "ab", "X", 300, 0, "10.0.0.1", None]), scalars)
event_values = st.recursive(
    event_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from([*KEYS, "a.b"]), children, min_size=1, max_size=3),
    ),
    max_leaves=10,
)
events = st.dictionaries(st.sampled_from(KEYS), event_values, min_size=2, max_size=3)

NAMES = [f"r{i}" for i in range(5)]


@settings(max_examples=examples(250), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    adds=st.lists(st.tuples(st.sampled_from(NAMES), pattern_objects()), min_size=1, max_size=6),
    deletes=st.lists(st.sampled_from(NAMES), max_size=3),
    evs=st.lists(events, min_size=1, max_size=4),
)
def test_machine_agrees_with_reference(
    adds: list[tuple[str, dict[str, Any]]], deletes: list[str], evs: list[dict[str, Any]]
) -> None:
    machine = patterns.Machine()
    rules: dict[str, list[dict[str, Any]]] = {}
    for name, pattern in adds:
        patterns.validate(pattern)
        machine.add_rule(name, pattern)
        rules.setdefault(name, []).append(pattern)
    for name in deletes:
        if name in rules:
            machine.delete_rule(name)
            del rules[name]
    assert sorted(machine.rule_names()) == sorted(rules)
    for event in evs:
        expected = reference.matching_names(rules, event)
        assert machine.matches_for_event(event) == expected, (rules, event)
        assert machine.matches_for_event(json.dumps(event)) == expected, (rules, event)


@settings(max_examples=examples(250), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=pattern_objects(), event=events)
def test_matches_agrees_with_reference(pattern: dict[str, Any], event: dict[str, Any]) -> None:
    assert patterns.matches(pattern, event) is reference.matches(pattern, event), (pattern, event)


CORPUS = Path(__file__).resolve().parent / "data" / "event-patterns.jsonl"


def test_reference_agrees_with_the_aws_corpus() -> None:
    checked = 0
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if case["expected"] == "invalid":
            continue
        assert reference.matches(case["pattern"], case["event"]) is (case["expected"] == "match"), case["name"]
        checked += 1
    assert checked > 50


def test_reference_applies_array_consistency() -> None:
    event = {"e": [{"f": "John", "l": "Doe"}, {"f": "Anna", "l": "Jones"}]}
    assert reference.matches({"e": {"f": ["Anna"], "l": ["Jones"]}}, event)
    assert not reference.matches({"e": {"f": ["John"], "l": ["Jones"]}}, event)
    assert reference.matches({"e": {"f": ["Anna"], "x": [{"exists": False}]}}, {"e": [{"f": "Anna"}, {"x": 1}]})
    assert not reference.matches({"e": {"x": [{"exists": False}]}}, {"e": [{"f": "Anna"}, {"x": 1}]})
