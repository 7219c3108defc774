"""White-box: events whose every array holds the values of one used path only skip the array-consistency walk.

Array consistency (`_arrays.walk`) constrains only values of two different paths inside one array. When the used-path
tree below each array the event has on a used path holds one path (`PathTree.single`), nothing can be inconsistent,
so `flatten_single` gathers each path's values and `walk_single` runs the array-free walk with several values per
field: the numeric-in-array row of the patterns bench (ten `geometry.coordinates.x` per event) was 0.09x of the
parsing floor through the general walk. These tests pin which events take that path and that it answers as the
reference semantics (`tests/patterns/reference.py`) do; the hypothesis agreement tests cover it too.
"""

from __future__ import annotations

from typing import Any

import pytest

import patterns
from patterns import _arrays, machine
from patterns.flatten import build_path_tree
from tests.patterns import reference

RULES: dict[str, dict[str, Any]] = {
    "band": {"geometry": {"coordinates": {"x": [{"numeric": [">", 1, "<", 2]}]}}},
    "typed-band": {"properties": {"t": ["AVE"]}, "geometry": {"coordinates": {"x": [{"numeric": [">=", 1.5]}]}}},
    "west": {"geometry": {"coordinates": {"x": [{"numeric": ["<", 0]}]}}},
    "tags": {"tags": [{"anything-but": ["a", "b"]}], "properties": {"t": [{"exists": False}]}},
    "no-x": {"geometry": {"coordinates": {"x": [{"exists": False}]}}, "tags": ["a"]},
    "exact": {"tags": ["c"], "geometry": {"coordinates": {"x": [3]}}},
}

EVENTS: list[dict[str, Any]] = [
    {"properties": {"t": "AVE"}, "geometry": {"coordinates": [[{"x": 0.5, "y": 9}, {"x": 1.75, "y": 9}]]}},
    {"properties": {}, "geometry": {"coordinates": [[{"x": -1.0}, {"x": 3}]]}, "tags": ["c", "a"]},
    {"geometry": {"coordinates": []}, "tags": ["a"]},
    {"geometry": {"coordinates": [[{"y": 1}], [{"x": True}, {"x": None}]]}, "tags": ["a", "b"]},
    {"geometry": {"coordinates": [[1, "x", {"x": 1.5}]]}, "tags": "z", "properties": {"t": ["AVE", "ST"]}},
]


def _machine() -> patterns.Machine:
    m = patterns.Machine()
    for name, pattern in RULES.items():
        m.add_rule(name, pattern)
    return m


def test_a_tree_node_is_single_when_at_most_one_used_path_is_at_or_below_it() -> None:
    tree = build_path_tree({"geometry.coordinates.x", "properties.t", "tags", "a.b", "a.c"})
    geometry, coordinates = tree.index["geometry"], tree.index["geometry"].index["coordinates"]
    assert (geometry.single, coordinates.single, tree.index["tags"].single) == (True, True, True)
    assert (tree.index["a"].single, tree.index["a"].index["b"].single, tree.single) == (False, True, False)


@pytest.mark.parametrize("event", EVENTS)
def test_events_with_one_path_per_array_take_the_single_walk_and_answer_as_the_reference(event: dict[str, Any]) -> None:
    m = _machine()
    snapshot = m._current()
    assert _arrays.flatten_single(event, snapshot.tree) is not None
    expected = reference.matching_names({name: [pattern] for name, pattern in RULES.items()}, event)
    assert m.matches_for_event(event) == expected
    flat = _arrays.flatten_arrays(event, snapshot.tree)
    assert sorted(_arrays.walk(snapshot.root, flat, snapshot.lcp)) == expected


def test_an_array_holding_two_used_paths_takes_the_consistent_walk() -> None:
    m = patterns.Machine()
    m.add_rule("pair", {"l": {"a": ["x"], "b": ["y"]}})
    snapshot = m._current()
    apart = {"l": [{"a": "x", "b": "z"}, {"a": "z", "b": "y"}]}
    assert _arrays.flatten_single(apart, snapshot.tree) is None
    assert m.matches_for_event(apart) == []  # the single walk would have said ["pair"]
    assert m.matches_for_event({"l": [{"a": "x", "b": "z"}, {"a": "x", "b": "y"}]}) == ["pair"]


def test_floats_in_arrays_are_still_checked_against_the_text() -> None:
    m = _machine()
    text = '{"geometry": {"coordinates": [[{"x": 1.50000000000000000001}]]}}'  # 1.5 as a double, not as text
    assert m.matches_for_event(text) == reference.matching_names(
        {name: [pattern] for name, pattern in RULES.items()}, machine._load_exact(text)
    )
