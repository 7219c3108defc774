"""White-box checks of the matcher's speed-ups: bounded memos, interned hits, the wildcard regex gate and the quick
depth bound must never change an answer, and no cache may grow without bound whatever the events."""

from __future__ import annotations

import random
import re
from typing import Any

import patterns
from patterns import _fieldindex, machine
from patterns.affix import Prefix
from patterns.anything_but import AnythingBut
from patterns.exact import Exact
from patterns.numeric import Range
from patterns.wildcard import Wildcard, WildcardIndex, parse


class _State:
    def __init__(self, name: str, edges: tuple[Any, ...] = ()) -> None:
        self.names = (name,)
        self.edges = edges


def test_field_memo_is_bounded_and_answers_stay_right() -> None:
    a, b = _State("a"), _State("b")
    index = _fieldindex.FieldIndex([(Prefix("x"), a), (AnythingBut("exact", frozenset({"x1"})), b)])
    for i in range(3 * _fieldindex.MEMO_LIMIT):
        hit = index.lookup(f"x{i}")
        assert hit.names == (("a",) if i == 1 else ("a", "b"))
        assert len(index.known) <= _fieldindex.MEMO_LIMIT


def test_hits_are_interned_per_distinct_answer() -> None:
    a, b = _State("a"), _State("b")
    index = _fieldindex.FieldIndex([(Prefix("ab"), a), (Prefix("ac"), b), (Exact("zz"), a)])
    assert index.lookup("abc") is index.lookup("abd") is index.lookup("zz")
    assert index.lookup("acx").names == ("b",)
    assert index.lookup("q") is index.lookup("r")
    assert index.lookup("q").names == ()


def test_interval_answers_are_precomputed_and_exact_floats_include_their_interval() -> None:
    a, b, c = _State("a"), _State("b"), _State("c")
    index = _fieldindex.FieldIndex(
        [(Range(0.0, False, 10.0, True), a), (Range(5.0, True, 20.0, False), b), (Exact(5.0), c)]
    )
    assert index.lookup(5.0).names == ("a", "c")
    assert index.lookup(5.5).names == ("a", "b")
    assert index.lookup(10.0).names == ("b",)
    assert index.lookup(20.0).names == ("b",)
    assert index.lookup(20.5).names == ()
    assert index.lookup("5").names == ()
    assert index.lookup(7.0) is index.lookup(8.0)


def test_wildcard_gate_agrees_with_the_segment_matcher() -> None:
    rng = random.Random(3)
    for _ in range(300):
        texts = [re.sub(r"\*+", "*", "".join(rng.choice("ab*") for _ in range(rng.randint(0, 6)))) for _ in range(3)]
        wildcards = [parse(t) for t in texts]
        index = WildcardIndex([(w, i) for i, w in enumerate(wildcards)])
        for _ in range(30):
            value = "".join(rng.choice("ab*") for _ in range(rng.randint(0, 9)))
            found: list[int] = []
            index.collect(value, found)
            assert sorted(found) == [i for i, w in enumerate(wildcards) if w.matches(value)], (texts, value)


def test_wildcard_gate_stays_linear_on_adversarial_input() -> None:
    index = WildcardIndex([(Wildcard(("a", "a", "a", "a", "a", "b")), 0)])
    found: list[int] = []
    index.collect("a" * 200_000, found)  # would take forever with a backtracking regex
    assert found == []


def test_answer_memo_is_bounded() -> None:
    m = patterns.Machine()
    m.add_rule("r", {"a": [{"prefix": ""}], "b": [{"prefix": ""}]})
    m.add_rule("s", {"b": [{"anything-but": "x"}]})
    for i in range(machine.ANSWER_MEMO_LIMIT + 50):
        assert m.matches_for_event({"a": f"{i}", "b": f"y{i}"}) == ["r", "s"]
    assert len(m._current().memo.answers) <= machine.ANSWER_MEMO_LIMIT


def test_returned_lists_are_copies() -> None:
    m = patterns.Machine()
    m.add_rule("r", {"a": ["x"]})
    m.add_rule("s", {"b": ["y"]})
    first = m.matches_for_event({"a": "x", "b": "y"})
    first.append("junk")
    assert m.matches_for_event({"a": "x", "b": "y"}) == ["r", "s"]


def test_quick_depth_bound_falls_back_to_the_exact_walk() -> None:
    class Opaque:
        pass

    m = patterns.Machine()
    m.add_rule("r", {"top": ["x"]})
    # Non-JSON objects on unused paths reach the whole heap through gc referents: the exact walk decides.
    assert m.matches_for_event({"top": "x", "other": Opaque()}) == ["r"]
    deep: Any = "leaf"
    for _ in range(200):  # deeper than the quick bound looks, well within the limit
        deep = [deep]
    assert m.matches_for_event({"top": "x", "n": deep}) == ["r"]
    for _ in range(patterns.MAX_EVENT_DEPTH):
        deep = {"k": deep}
    assert machine._depth_exceeds({"top": "x", "n": deep}, patterns.MAX_EVENT_DEPTH)


def test_dotted_event_keys_take_the_general_path_and_still_match() -> None:
    m = patterns.Machine()
    m.add_rule("r", {"a": {"b": ["x"]}})
    m.add_rule("s", {"a": {"b": ["y"]}, "c": ["z"]})
    assert m.matches_for_event({"a.b": "x"}) == ["r"]
    assert m.matches_for_event({"a.b": "y", "a": {"b": "x"}, "c": "z"}) == ["r", "s"]
