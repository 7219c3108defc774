"""`patterns.Machine`: many rules at once, same-name ORing, deletion, input forms and bounds.

Deleting a rule must leave the Machine as if the rule had never been added; adding a name twice ORs the patterns;
`matches_for_event` answers sorted names, each once. Bounds: a pattern over 4,096 characters is rejected
(EventBridge's `EventPattern` limit), and an event nested deeper than about 1,000 levels gets a clear error
(EventBridge documents 1,000 levels for PutEvents Detail), never a RecursionError.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest

import patterns
from tests.patterns._check import PREFIX

RULES: dict[str, Any] = {
    "exact": {"source": ["aws.ec2"]},
    "prefix": {"detail": {"state": [{"prefix": "run"}]}},
    "numeric": {"detail": {"count": [{"numeric": [">", 5]}]}},
    "absent": {"detail": {"count": [{"exists": False}]}, "source": ["aws.s3"]},
    "anything-but": {"detail": {"state": [{"anything-but": "running"}]}},
    "or": {"$or": [{"source": ["aws.s3"]}, {"detail": {"count": [1, 2]}}]},
    "array": {"detail": {"items": {"k": ["a"], "v": [1]}}},
    "wildcard": {"source": [{"wildcard": "aws.*2"}]},
}


def _events(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    out = []
    for _ in range(count):
        detail: dict[str, Any] = {}
        if rng.random() < 0.7:
            detail["state"] = rng.choice(["running", "run", "stopped", "", 5])
        if rng.random() < 0.7:
            detail["count"] = rng.choice([0, 1, 2, 5, 6, 100, "6", None])
        if rng.random() < 0.5:
            detail["items"] = [{"k": rng.choice("ab"), "v": rng.choice([0, 1])} for _ in range(rng.randrange(3))]
        out.append({"source": rng.choice(["aws.ec2", "aws.s3", "aws.x2", "other"]), "detail": detail})
    return out


EVENTS = _events(300)


def _machine(rules: dict[str, Any]) -> Any:
    machine = patterns.Machine()
    for name, pattern in rules.items():
        machine.add_rule(name, pattern)
    return machine


def test_machine_answers_each_rule_as_matches_would() -> None:
    machine = _machine(RULES)
    for event in EVENTS:
        expected = sorted(name for name, pattern in RULES.items() if patterns.matches(pattern, event))
        assert machine.matches_for_event(event) == expected


def test_machine_results_are_sorted_and_unique() -> None:
    machine = patterns.Machine()
    for name in ["b", "a", "c"]:
        machine.add_rule(name, {"$or": [{"x": ["1"]}, {"y": ["2"]}]})
    assert machine.matches_for_event({"x": "1", "y": "2"}) == ["a", "b", "c"]


def test_empty_machine_matches_nothing() -> None:
    machine = patterns.Machine()
    assert machine.matches_for_event({"a": 1}) == []
    assert list(machine.rule_names()) == []


def test_adding_the_same_name_again_ors_the_patterns() -> None:
    machine = patterns.Machine()
    machine.add_rule("r", {"a": ["1"]})
    machine.add_rule("r", {"b": ["2"]})
    assert machine.matches_for_event({"a": "1"}) == ["r"]
    assert machine.matches_for_event({"b": "2"}) == ["r"]
    assert machine.matches_for_event({"a": "1", "b": "2"}) == ["r"]
    assert machine.matches_for_event({"a": "2"}) == []
    assert list(machine.rule_names()) == ["r"]


def test_adding_the_same_rule_twice_is_harmless() -> None:
    machine = patterns.Machine()
    machine.add_rule("r", {"a": ["1"]})
    machine.add_rule("r", '{"a": ["1"]}')
    assert machine.matches_for_event({"a": "1"}) == ["r"]
    machine.delete_rule("r")
    assert machine.matches_for_event({"a": "1"}) == []


def test_delete_rule_leaves_the_machine_as_if_never_added() -> None:
    kept = {name: RULES[name] for name in ["exact", "numeric", "or", "array"]}
    baseline = _machine(kept)
    machine = _machine(RULES)
    # A second pattern ORed under a name that is then deleted goes away with it.
    machine.add_rule("prefix", {"source": ["aws.ec2"]})
    for name in set(RULES) - set(kept):
        machine.delete_rule(name)
    assert sorted(machine.rule_names()) == sorted(kept)
    for event in EVENTS:
        assert machine.matches_for_event(event) == baseline.matches_for_event(event)


def test_delete_then_add_again_uses_only_the_new_pattern() -> None:
    machine = patterns.Machine()
    machine.add_rule("r", {"a": ["1"]})
    machine.delete_rule("r")
    machine.add_rule("r", {"a": ["2"]})
    assert machine.matches_for_event({"a": "1"}) == []
    assert machine.matches_for_event({"a": "2"}) == ["r"]


def test_deleting_every_rule_in_any_order_empties_the_machine() -> None:
    events = EVENTS[:40]
    truth = {name: [patterns.matches(pattern, event) for event in events] for name, pattern in RULES.items()}
    for order in itertools.islice(itertools.permutations(sorted(RULES)), 0, 40, 7):
        machine = _machine(RULES)
        remaining = set(RULES)
        for name in order:
            machine.delete_rule(name)
            remaining.discard(name)
            assert sorted(machine.rule_names()) == sorted(remaining)
            for i, event in enumerate(events):
                assert machine.matches_for_event(event) == sorted(n for n in remaining if truth[n][i])
        assert list(machine.rule_names()) == []


def test_rules_sharing_a_field_and_value_are_independent() -> None:
    machine = patterns.Machine()
    machine.add_rule("one", {"a": ["x"]})
    machine.add_rule("two", {"a": ["x"], "b": ["y"]})
    assert machine.matches_for_event({"a": "x"}) == ["one"]
    assert machine.matches_for_event({"a": "x", "b": "y"}) == ["one", "two"]
    machine.delete_rule("one")
    assert machine.matches_for_event({"a": "x"}) == []
    assert machine.matches_for_event({"a": "x", "b": "y"}) == ["two"]


@pytest.mark.parametrize("form", ["dict", "str", "bytes"])
def test_matches_for_event_accepts_dict_text_and_bytes(form: str) -> None:
    machine = _machine(RULES)
    event = {"source": "aws.ec2", "detail": {"state": "running", "count": 6}}
    given: Any = {"dict": event, "str": json.dumps(event), "bytes": json.dumps(event).encode()}[form]
    assert machine.matches_for_event(given) == ["exact", "numeric", "prefix", "wildcard"]


def test_invalid_rule_leaves_existing_rules_alone() -> None:
    machine = _machine(RULES)
    with pytest.raises(patterns.InvalidEventPattern):
        machine.add_rule("exact", {"source": []})
    assert sorted(machine.rule_names()) == sorted(RULES)
    assert machine.matches_for_event({"source": "aws.ec2"}) == ["exact", "wildcard"]


def test_many_rules_on_one_field_each_match_only_their_value() -> None:
    machine = patterns.Machine()
    for i in range(500):
        machine.add_rule(f"r{i:04d}", {"id": [str(i), i]})
    assert machine.matches_for_event({"id": "123"}) == ["r0123"]
    assert machine.matches_for_event({"id": 77.0}) == ["r0077"]
    assert machine.matches_for_event({"id": ["5", 6]}) == ["r0005", "r0006"]
    assert machine.matches_for_event({"id": "x"}) == []


# --- bounds ------------------------------------------------------------------------------------------------------


def _pattern_of_length(length: int) -> str:
    head = '{"a": ["'
    tail = '"]}'
    text = head + "x" * (length - len(head) - len(tail)) + tail
    assert len(text) == length
    return text


def test_pattern_of_4096_characters_is_accepted() -> None:
    patterns.validate(_pattern_of_length(4096))
    machine = patterns.Machine()
    machine.add_rule("r", _pattern_of_length(4096))


def test_pattern_over_4096_characters_is_rejected_with_a_clear_message() -> None:
    for pattern in (_pattern_of_length(4097), json.loads(_pattern_of_length(5000))):
        with pytest.raises(patterns.InvalidEventPattern) as info:
            patterns.validate(pattern)
        assert info.value.message.startswith(PREFIX)
        assert "4096" in info.value.message
        machine = patterns.Machine()
        with pytest.raises(patterns.InvalidEventPattern):
            machine.add_rule("r", pattern)
        assert list(machine.rule_names()) == []


def _nested_event(depth: int) -> dict[str, Any]:
    event: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        event = {"n": event}
    event["top"] = "x"
    return event


def _nested_text(depth: int) -> str:
    return '{"top": "x", ' + '"n": {' * (depth - 1) + '"leaf": 1' + "}" * depth


def test_event_nested_within_the_limit_is_matched() -> None:
    machine = patterns.Machine()
    machine.add_rule("r", {"top": ["x"]})
    assert machine.matches_for_event(_nested_event(900)) == ["r"]
    assert machine.matches_for_event(_nested_text(900)) == ["r"]


@pytest.mark.parametrize("depth", [1100, 100_000])
def test_event_nested_too_deeply_gets_a_clear_error_not_a_recursion_error(depth: int) -> None:
    machine = patterns.Machine()
    machine.add_rule("r", {"top": ["x"]})
    for event in (_nested_text(depth), _nested_text(depth).encode(), _nested_event(depth)):
        # RecursionError is not a ValueError, so this also rules it out.
        with pytest.raises(ValueError, match=r"(?i)nest|deep|depth"):
            machine.matches_for_event(event)
        with pytest.raises(ValueError, match=r"(?i)nest|deep|depth"):
            patterns.matches({"top": ["x"]}, event)


@pytest.mark.parametrize("event", ["[1, 2]", '"x"', "5", "null", "{not json", b"\xff\xfe"])
def test_event_that_is_not_a_json_object_gets_a_clear_error(event: str | bytes) -> None:
    machine = patterns.Machine()
    machine.add_rule("r", {"a": ["x"]})
    with pytest.raises(ValueError, match=r"\S") as info:
        machine.matches_for_event(event)
    assert not isinstance(info.value, patterns.InvalidEventPattern)
