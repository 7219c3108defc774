"""The compiler under hostile patterns: no recursion on the pattern's size, a bounded build, clear refusals.

Every pattern within the documented bounds (docs/patterns.md "Bounds") compiles and matches; one beyond them is
refused with InvalidEventPattern before anything is built. Structure is asserted rather than time: the used-path
tree has one node per distinct path prefix, whatever the number of dotted segments.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

import patterns
from patterns.flatten import PathTree, build_path_tree
from patterns.machine import SPECIALISE_AFTER
from patterns.parser import MAX_STATES_PER_RULE
from tests.patterns._check import PREFIX, matched


def _segments(n: int) -> str:
    return ".".join(["a"] * n)


def _tree_nodes(tree: PathTree) -> int:
    count, stack = 0, [tree]
    while stack:
        node = stack.pop()
        count += 1
        stack.extend(child for _, child in node.plain)
    return count


def _nested_event(depth: int, leaf: Any) -> dict[str, Any]:
    event: Any = leaf
    for _ in range(depth):
        event = {"a": event}
    assert isinstance(event, dict)
    return event


@pytest.mark.parametrize("segments", [600, 2040])
def test_field_name_of_many_dotted_segments_compiles_and_matches(segments: int) -> None:
    pattern = json.dumps({_segments(segments): ["x"]})
    assert len(pattern) <= patterns.MAX_PATTERN_LENGTH
    machine = patterns.Machine()
    machine.add_rule("deep", pattern)
    machine.add_rule("other", {"b": ["y"]})
    # The same path written as one dotted key, as nested objects then a dotted rest, and missing or different.
    one_key = {_segments(segments): "x", "b": "y"}
    nested = {**_nested_event(500, {_segments(segments - 500): "x"}), "b": "y"}
    # More events than the warm-up, so the specialised code path (which refuses deep trees) is exercised too.
    for _ in range(SPECIALISE_AFTER + 2):
        assert machine.matches_for_event(one_key) == ["deep", "other"]
        assert machine.matches_for_event(json.dumps(nested)) == ["deep", "other"]
        assert machine.matches_for_event({_segments(segments): "z", "b": "y"}) == ["other"]
        assert machine.matches_for_event({_segments(segments - 1): "x", "b": "y"}) == ["other"]


def test_used_path_tree_grows_linearly_with_dotted_segments() -> None:
    # One node per distinct prefix: a path of n segments is n + 1 nodes (the root too), never the n² dotted runs.
    assert _tree_nodes(build_path_tree({_segments(2000)})) == 2001
    assert _tree_nodes(build_path_tree({_segments(1000), _segments(999) + ".b", "c"})) == 1003


def test_deeply_nested_pattern_compiles_and_matches() -> None:
    depth = 600
    pattern = '{"a":' * depth + '["x"]' + "}" * depth
    assert len(pattern) <= patterns.MAX_PATTERN_LENGTH
    patterns.validate(pattern)
    assert matched(pattern, _nested_event(depth, "x"))
    assert not matched(pattern, _nested_event(depth, "y"))
    assert matched(pattern, {_segments(depth): "x"})


def test_deeply_nested_or_compiles_and_matches() -> None:
    # `$or` inside `$or` inside objects, as deep as 4,096 characters allow.
    depth = 140
    pattern = '{"a":{"$or":[{"b":["x"]},' * depth + '{"c":["z"]}' + "]}}" * depth
    assert len(pattern) <= patterns.MAX_PATTERN_LENGTH
    deepest: dict[str, Any] = {"c": "z"}
    for _ in range(depth):
        deepest = {"a": deepest}
    assert matched(pattern, deepest)
    assert matched(pattern, {"a": {"b": "x"}})
    assert not matched(pattern, {"a": {"c": "z"}})


def _many_states_pattern(branches: int, common: int, common_first: bool) -> dict[str, Any]:
    # Sub-rules are ordered by field path: fields named "0..." sort before "x", fields named "z..." after it.
    name = "0" if common_first else "z"
    fields = {f"{name}{i:03d}": [1] for i in range(common)}
    return {"x": {"$or": [{f"b{i}": [1]} for i in range(branches)]}, **fields}


def test_pattern_needing_more_states_than_the_bound_is_refused_everywhere() -> None:
    pattern = _many_states_pattern(branches=50, common=200, common_first=False)  # 50 x 201 states
    reason = f"The pattern needs more than {MAX_STATES_PER_RULE} matcher states (fields times $or alternatives)"
    for form in (pattern, json.dumps(pattern)):
        with pytest.raises(patterns.InvalidEventPattern) as info:
            patterns.validate(form)
        assert info.value.message == PREFIX + reason
        machine = patterns.Machine()
        machine.add_rule("kept", {"x": {"b1": [1]}})
        with pytest.raises(patterns.InvalidEventPattern):
            machine.add_rule("big", form)
        assert machine.rule_names() == ["kept"]
        assert machine.matches_for_event({"x": {"b1": 1}}) == ["kept"]
    with pytest.raises(patterns.InvalidEventPattern) as info:
        patterns.validate(json.dumps(pattern))
    assert info.value.location is not None
    assert info.value.location.startswith('[Source: (String)"{')


def test_states_bound_counts_states_shared_by_the_alternatives_once() -> None:
    # The same fields, ordered before the `$or`, are shared by all 50 alternatives: 200 + 50 states.
    pattern = _many_states_pattern(branches=50, common=200, common_first=True)
    patterns.validate(pattern)
    event = {**{f"0{i:03d}": 1 for i in range(200)}, "x": {"b49": 1}}
    assert matched(pattern, event)
    assert not matched(pattern, {**event, "0000": 2})


def test_largest_accepted_pattern_matches() -> None:
    pattern = _many_states_pattern(branches=49, common=200, common_first=False)  # 49 x 201 = 9,849 states
    machine = patterns.Machine()
    machine.add_rule("big", pattern)
    event = {**{f"z{i:03d}": 1 for i in range(200)}, "x": {"b7": 1}}
    assert machine.matches_for_event(event) == ["big"]
    assert machine.matches_for_event({**event, "z199": 0}) == []


def test_event_within_the_depth_bound_with_over_precise_numbers_matches() -> None:
    # Over-precise float text forces the exact-number parser, whose C recursion must not refuse a legal depth.
    machine = patterns.Machine()
    machine.add_rule("r", {"x": [{"numeric": [">", 0]}], "n": [1]})
    depth = patterns.MAX_EVENT_DEPTH - 10
    for number in ("0.30000000000000004000", "1e400"):
        text = f'{{"x": {number}, "n": {"[" * (depth - 1)}1{"]" * (depth - 1)}}}'
        expected = ["r"] if number != "1e400" else []
        assert machine.matches_for_event(text) == expected
        assert machine.matches_for_event(text.encode()) == expected


def _detail(depth: int) -> str:
    """A Detail `depth` levels deep (the Detail object itself is level 1)."""
    return '{"n": ' * (depth - 1) + "[]" + "}" * (depth - 1)


def _envelope_with_detail(depth: int) -> str:
    """An event as PutEvents builds it around a Detail `depth` levels deep."""
    return '{"version": "0", "source": "s", "detail-type": "t", "detail": ' + _detail(depth) + "}"


def test_an_event_whose_detail_is_as_deep_as_put_events_accepts_matches() -> None:
    # PutEvents accepts a Detail 1,000 deep; the envelope adds a level above it that the bound must not count.
    from router.envelope import MAX_DETAIL_DEPTH, _depth, parse_detail

    assert _depth(parse_detail(_detail(MAX_DETAIL_DEPTH))) == MAX_DETAIL_DEPTH == patterns.MAX_EVENT_DEPTH
    accepted = _envelope_with_detail(MAX_DETAIL_DEPTH)
    machine = patterns.Machine()
    machine.add_rule("r", {"source": ["s"]})
    machine.add_rule("deep", {"detail": {"n": {"n": [{"exists": True}]}}})  # a rule looking inside the Detail
    for _ in range(SPECIALISE_AFTER + 2):  # the general path, then the specialised one
        for event in (accepted, accepted.encode(), orjson.loads(accepted)):
            assert machine.matches_for_event(event) == ["r"]
    too_deep = _envelope_with_detail(patterns.MAX_EVENT_DEPTH + 1)
    for event in (too_deep, too_deep.encode(), orjson.loads(too_deep)):
        with pytest.raises(patterns.InvalidEvent):
            machine.matches_for_event(event)


def test_nested_or_is_read_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # Deciding whether a `$or` is an OR looks at its whole value; nested ones must not re-read it per level.
    from patterns import _jsontext as jt
    from patterns import parser

    reads = 0
    plain_next = parser._Tokens.next

    def counting_next(self: parser._Tokens) -> jt.Token:
        nonlocal reads
        reads += 1
        return plain_next(self)

    monkeypatch.setattr(parser._Tokens, "next", counting_next)
    depth = 140
    pattern = '{"a":{"$or":[{"b":["x"]},' * depth + '{"c":["z"]}' + "]}}" * depth
    tokens = jt.TextTokens(pattern)
    total = 0
    while tokens.next()[0] != jt.EOF:
        total += 1
    patterns.validate(pattern)
    assert reads <= 3 * total
