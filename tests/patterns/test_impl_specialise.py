"""White-box checks of the per-snapshot straight-line matcher (`_specialise.py`) and the text-input fast paths.

The generated code must answer exactly what the general path answers (or hand over to it), whatever the rules and
events; rule text must never reach the generated source as code; trees too large for straight-line code stay on the
general path; and the text-input shortcuts (no depth walk for short text, orjson's float text) change no answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import patterns
from patterns import _specialise, machine
from patterns.flatten import NeedsExactNumbers, _check_float
from tests.patterns import reference
from tests.patterns._examples import examples
from tests.patterns.test_reference_agreement import events, pattern_objects


@contextmanager
def _specialise_at_once() -> Iterator[None]:
    with mock.patch.object(machine, "SPECIALISE_AFTER", 0):
        yield


def _generated(m: patterns.Machine) -> bool:
    snapshot = m._current()
    return snapshot.fast is not machine._general


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.lists(pattern_objects(), min_size=1, max_size=5),
    evs=st.lists(events, min_size=1, max_size=4),
)
def test_generated_matcher_agrees_with_reference(rules: list[dict[str, Any]], evs: list[dict[str, Any]]) -> None:
    named = {f"r{i}": [pattern] for i, pattern in enumerate(rules)}
    with _specialise_at_once():
        m = patterns.Machine()
        for name, (pattern,) in named.items():
            m.add_rule(name, pattern)
        assert _generated(m)
        for event in evs:
            expected = reference.matching_names(named, event)
            text = json.dumps(event)
            assert m.matches_for_event(event) == expected, (rules, event)
            assert m.matches_for_event(text) == expected, (rules, event)
            assert m.matches_for_event(text.encode()) == expected, (rules, event)


def test_snapshot_is_specialised_after_its_warm_up_and_answers_the_same() -> None:
    m = patterns.Machine()
    m.add_rule("r", {"detail": {"state": ["on"]}, "source": [{"prefix": "aws."}]})
    event = b'{"source": "aws.ec2", "detail": {"state": "on"}}'
    answers = [m.matches_for_event(event) for _ in range(machine.SPECIALISE_AFTER + 2)]
    assert _generated(m)
    assert answers == [["r"]] * len(answers)
    m.add_rule("s", {"source": ["aws.ec2"]})  # a new snapshot starts its own warm-up
    assert not _generated(m)
    assert m.matches_for_event(event) == ["r", "s"]


HOSTILE_KEYS = [
    'x"); import os; os.system("false"); ("',
    "a'b",
    "line\nbreak",
    "tab\tand\\backslash",
    "__import__('os')",
    "k0",
    "f0",
    "None",
    "é ü 中",
    "",
    "{}",
]


def test_rule_keys_never_become_code() -> None:
    with _specialise_at_once():
        m = patterns.Machine()
        for i, key in enumerate(HOSTILE_KEYS):
            m.add_rule(f"r{i}", {"outer": {key: [f"v{i}"]}})
            m.add_rule(f"top{i}", {key: [{"prefix": "v"}]})
        assert _generated(m)
        for i, key in enumerate(HOSTILE_KEYS):
            assert m.matches_for_event({"outer": {key: f"v{i}"}}) == [f"r{i}"]
            assert m.matches_for_event(json.dumps({key: f"v{i}"})) == [f"top{i}"]


def test_dotted_keys_arrays_and_odd_values_take_the_general_path() -> None:
    with _specialise_at_once():
        m = patterns.Machine()
        m.add_rule("r", {"a": {"b": ["x"]}, "c": [{"exists": True}]})
        assert _generated(m)
        assert m.matches_for_event({"a.b": "x", "c": 1}) == ["r"]
        assert m.matches_for_event({"a": {"b": ["y", "x"]}, "c": [True]}) == ["r"]
        assert m.matches_for_event({"a": {"b": "x"}, "c": None}) == ["r"]
        assert m.matches_for_event({"a": {"b": "x"}, "c": {}}) == []
        assert m.matches_for_event({"a": {"b": "x"}}) == []
        assert m.matches_for_event({"a": "x", "c": 1}) == []

        class Text(str):
            pass

        assert m.matches_for_event({"a": {"b": Text("x")}, "c": 1}) == ["r"]


def test_null_true_false_and_big_ints_are_keyed_as_in_the_general_path() -> None:
    with _specialise_at_once():
        m = patterns.Machine()
        m.add_rule("null", {"v": [None]})
        m.add_rule("true", {"v": [True]})
        m.add_rule("one", {"v": [1]})
        m.add_rule("big", {"v": [123456789012345678]})
        m.add_rule("absent", {"v": [{"exists": False}]})
        assert _generated(m)
        assert m.matches_for_event({"v": None}) == ["null"]
        assert m.matches_for_event({"v": True}) == ["true"]
        assert m.matches_for_event({"v": 1}) == ["one"]
        assert m.matches_for_event({"v": 1.0}) == ["one"]
        assert m.matches_for_event(b'{"v": 123456789012345678}') == ["big"]
        assert m.matches_for_event({"v": 123456789012345678}) == ["big"]
        assert m.matches_for_event({"w": 1}) == ["absent"]


def test_trees_too_wide_or_too_deep_stay_on_the_general_path() -> None:
    with _specialise_at_once():
        wide = patterns.Machine()
        wide.add_rules((f"r{i}", {f"k{i}": ["x"]}) for i in range(_specialise.MAX_PATHS + 1))
        assert not _generated(wide)
        assert wide.matches_for_event({"k7": "x"}) == ["r7"]
        deep_pattern: dict[str, Any] = {"leaf": ["x"]}
        deep_event: dict[str, Any] = {"leaf": "x"}
        for _ in range(_specialise.MAX_DEPTH):
            deep_pattern, deep_event = {"n": deep_pattern}, {"n": deep_event}
        deep = patterns.Machine()
        deep.add_rule("r", deep_pattern)
        assert not _generated(deep)
        assert deep.matches_for_event(deep_event) == ["r"]


@settings(max_examples=examples(2000), deadline=None)
@given(
    st.floats(min_value=1e-4, max_value=1e16, exclude_max=True)
    | st.floats(min_value=-1e16, max_value=-1e-4, exclude_min=True)
)
def test_orjson_writes_repr_text_where_the_float_check_uses_it(value: float) -> None:
    assert orjson.dumps(value).decode() == repr(value)


@pytest.mark.parametrize("value", [0.0, -0.0, 1e-4, 0.00011, 9999999999999998.0, 1e15, -122.45834070801553])
def test_orjson_writes_repr_text_at_the_edges(value: float) -> None:
    assert orjson.dumps(value).decode() == repr(value)


@pytest.mark.parametrize("text", ["1.5", "1.50", "15e-1", "1e-7", "1e+16", "2.5e16", "0.1", "-0.0", "5e-324"])
def test_float_check_finds_exactly_the_shortest_text(text: str) -> None:
    value = float(text)
    for raw in (f'{{"v": {text}}}', f'{{"v": {text}}}'.encode()):
        if repr(value) == text:
            _check_float(value, raw)
        else:
            with pytest.raises(NeedsExactNumbers):
                _check_float(value, raw)


def test_text_events_answer_like_dict_events_for_numbers() -> None:
    with _specialise_at_once():
        m = patterns.Machine()
        m.add_rule("range", {"v": [{"numeric": [">", 1, "<", 2]}]})
        m.add_rule("exact", {"v": [1.5]})
        for text in ["1.5", "1.50", "15e-1", "1.5000000000000001", "1.4999999999999999999", "1.25", "3"]:
            event = f'{{"v": {text}}}'
            rules: list[tuple[str, dict[str, Any]]] = [
                ("exact", {"v": [1.5]}),
                ("range", {"v": [{"numeric": [">", 1, "<", 2]}]}),
            ]
            expected = [name for name, pattern in rules if patterns.matches(pattern, event)]
            assert m.matches_for_event(event.encode()) == sorted(expected), text
            assert m.matches_for_event(event) == sorted(expected), text


def _nested_text(depth: int) -> str:
    return '{"top": "x", ' + '"n": {' * (depth - 1) + '"leaf": 1' + "}" * depth


@pytest.mark.parametrize("depth", [1002, 1024, 1025, 1100, 100_000])
def test_text_nested_past_the_bound_gets_the_one_nesting_error(depth: int) -> None:
    m = patterns.Machine()
    m.add_rule("r", {"top": ["x"]})
    for event in (_nested_text(depth), _nested_text(depth).encode()):
        with pytest.raises(patterns.InvalidEvent) as info:
            m.matches_for_event(event)
        assert str(info.value) == "Event nesting is deeper than 1000"


def test_short_text_skips_the_depth_count_and_long_text_within_the_bound_is_matched() -> None:
    m = patterns.Machine()
    m.add_rule("r", {"top": ["x"]})
    short = b'{"top":"x","n":' + b"[" * 900 + b"]" * 900 + b"}"
    assert len(short) <= 2000
    with mock.patch.object(machine, "_brackets", side_effect=AssertionError("counted")):
        assert m.matches_for_event(short) == ["r"]
    assert m.matches_for_event(_nested_text(1000).encode() + b" " * 5000) == ["r"]
    assert m.matches_for_event(json.dumps({"top": "x", "pad": ["[{" * 3000]})) == ["r"]


def _range_machine() -> patterns.Machine:
    m = patterns.Machine()
    for i in range(40):
        m.add_rule(f"range{i:02}", {"x": [{"numeric": [">=", i, "<", i + 10]}]})
        m.add_rule(f"key{i:02}", {"k": [f"{i}"]})
    return m


def _expected(x: int, k: int) -> list[str]:
    return sorted([f"range{i:02}" for i in range(40) if i <= x < i + 10] + ([f"key{k:02}"] if k < 40 else []))


def test_answer_memo_stops_when_combinations_do_not_repeat_and_answers_stay_right() -> None:
    with mock.patch.object(machine, "ANSWER_MEMO_LIMIT", 64):
        m = _range_machine()
        for n in range(300):  # nearly every event its own combination of hits
            x, k = n % 45, (n * 7) % 41
            assert m.matches_for_event({"x": x, "k": f"{k}"}) == _expected(x, k)
        snapshot = m._current()
        assert not snapshot.memo.memoise
        assert snapshot.memo.answers == {}
        first = m.matches_for_event({"x": 12, "k": "3"})
        first.append("junk")
        assert m.matches_for_event({"x": 12, "k": "3"}) == _expected(12, 3)


def test_answer_memo_stays_when_combinations_repeat() -> None:
    with mock.patch.object(machine, "ANSWER_MEMO_LIMIT", 64):
        m = _range_machine()
        cleared = 0
        for n in range(3000):  # a few combinations most of the time, a new one every tenth event
            x, k = ((n // 10) % 45, (n // 10) % 41) if n % 10 == 0 else (n % 5, 0)
            before = len(m._current().memo.answers)
            assert m.matches_for_event({"x": x, "k": f"{k}"}) == _expected(x, k)
            cleared += len(m._current().memo.answers) < before
        snapshot = m._current()
        assert snapshot.memo.memoise
        assert cleared > 0
        assert 0 < len(snapshot.memo.answers) <= 64
