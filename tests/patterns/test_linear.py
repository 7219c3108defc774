"""Matching cost grows linearly with the event: one regression test per hostile family (issue 7 item 3).

Cost is counted, not timed: `_calls` counts the Python and C function calls one `matches_for_event` makes (a
profile hook, so it is deterministic on a loaded machine). For each family the event is made four times larger
and the count may grow at most 4.5 times; an algorithm that pairs up array elements grows 16 times. Work hidden
inside one C call (a regex, `str.find`) is checked by the structure that avoids it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

import patterns
from patterns import _arrays, flatten

Family = Callable[[int], tuple[dict[str, Any], str]]


def _calls(pattern: dict[str, Any], event: str) -> int:
    machine = patterns.Machine()
    machine.add_rule("r", pattern)
    machine.add_rule("other", {"zz": ["1"]})
    machine.matches_for_event('{"zz": "0"}')  # compile outside the count
    count = 0

    def profile(frame: Any, event_kind: str, arg: Any) -> None:
        nonlocal count
        if event_kind in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        machine.matches_for_event(event)
    finally:
        sys.setprofile(None)
    return count


def _elements(n: int, element: dict[str, Any]) -> str:
    return json.dumps([element] * n)


FAMILIES: dict[str, Family] = {
    # The issue's case: two fields of one array element, every element matching one of them.
    "two fields in one array": lambda n: (
        {"l": {"a": ["x"], "b": ["y"]}},
        '{"l": ' + _elements(n, {"a": "x", "b": "z"}) + "}",
    ),
    "eight fields in one array": lambda n: (
        {"l": {f"f{i}": ["x"] for i in range(8)}},
        '{"l": ' + _elements(n, {**{f"f{i}": "x" for i in range(7)}, "f7": "z"}) + "}",
    ),
    "fields in two independent arrays": lambda n: (
        {"l": {"a": ["x"]}, "m": {"b": ["y"]}, "z": ["q"]},
        '{"l": ' + _elements(n, {"a": "x"}) + ', "m": ' + _elements(n, {"b": "y"}) + "}",
    ),
    "exists false after a field": lambda n: (
        {"l": {"a": ["x"], "b": [{"exists": False}]}},
        '{"l": ' + _elements(n, {"a": "x", "b": 1}) + "}",
    ),
    "exists false before a field": lambda n: (
        {"l": {"a": [{"exists": False}], "b": ["x"]}},
        '{"l": ' + _elements(n, {"a": 1, "b": "x"}) + "}",
    ),
    "$or of array fields": lambda n: (
        {"l": {"$or": [{"a": ["x"], "b": ["y"]}, {"a": ["y"], "c": ["x"]}]}},
        '{"l": ' + _elements(n, {"a": "x", "b": "z", "c": "z"}) + "}",
    ),
    "anything-but and wildcard in an array": lambda n: (
        {"l": {"a": [{"anything-but": "x"}], "b": [{"wildcard": "*y*"}], "c": ["z"]}},
        '{"l": [' + ", ".join(json.dumps({"a": f"v{i}", "b": f"y{i}", "c": "q"}) for i in range(n)) + "]}",
    ),
    "numbers in an array": lambda n: (
        {"l": {"a": [{"numeric": [">", 0]}], "b": ["y"]}},
        '{"l": [' + ", ".join(json.dumps({"a": 0.5 + i * 1e-6, "b": "z"}) for i in range(n)) + "]}",
    ),
    "nested arrays": lambda n: (
        {"a": {"b": ["x"], "c": ["y"]}},
        '{"a": [' + ", ".join(_elements(4, {"b": "x", "c": "z"}) for _ in range(n // 4)) + "]}",
    ),
    "dotted keys beside nested ones": lambda n: (
        {"l": {"a": ["x"], "b": ["y"]}},
        '{"l": ' + _elements(n, {"a": "x", "b": "z"}) + ', "l.b": ' + json.dumps(["z"] * n) + "}",
    ),
    "dotted keys, three fields": lambda n: (
        {"l": {"b": {"x": ["1"], "y": ["2"], "z": ["3"]}}},
        '{"l": '
        + _elements(n, {"b": {"x": "1", "y": "0"}})
        + ', "l.b": '
        + _elements(n, {"y": "2", "x": "0"})
        + ', "l.b.z": '
        + json.dumps(["0"] * n)
        + "}",
    ),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_matching_cost_grows_linearly_with_the_event(family: str) -> None:
    make = FAMILIES[family]
    small_pattern, small = make(200)
    large_pattern, large = make(800)
    assert small_pattern == large_pattern
    assert _calls(large_pattern, large) <= 4.5 * _calls(small_pattern, small)


OPERATORS: dict[str, Any] = {
    "exact string": "x",
    "exact number": 7,
    "prefix": {"prefix": "v1"},
    "suffix": {"suffix": "1x"},
    "prefix equals-ignore-case": {"prefix": {"equals-ignore-case": "V1"}},
    "suffix equals-ignore-case": {"suffix": {"equals-ignore-case": "1X"}},
    "equals-ignore-case": {"equals-ignore-case": "V1X"},
    "wildcard": {"wildcard": "v*1*x"},
    "numeric range": {"numeric": [">", 0, "<=", 1e9]},
    "cidr": {"cidr": "10.1.0.0/16"},
    "exists true": {"exists": True},
    "exists false": {"exists": False},
    "anything-but string": {"anything-but": "v1x"},
    "anything-but numbers": {"anything-but": [1.5, 2.5]},
    "anything-but prefix": {"anything-but": {"prefix": "v1"}},
    "anything-but suffix": {"anything-but": {"suffix": "1x"}},
    "anything-but equals-ignore-case": {"anything-but": {"equals-ignore-case": ["V1X", "V2X"]}},
    "anything-but wildcard": {"anything-but": {"wildcard": "v*1*"}},
}


def _mixed_values(n: int) -> str:
    """n elements whose `a` is, in turn, a distinct string, number and IPv4 address (so no memo helps) and whose
    `b` never matches: every element is a candidate for `a` and none completes the rule (the most work)."""
    kinds = (lambda i: f"v{i}x", lambda i: i + 0.5, lambda i: f"10.1.{i % 250}.{i // 250 % 250}")
    return '{"l": [' + ", ".join(json.dumps({"a": kinds[i % 3](i), "b": "z"}) for i in range(n)) + "]}"


@pytest.mark.parametrize("operator", list(OPERATORS))
def test_matching_cost_grows_linearly_for_every_operator(operator: str) -> None:
    # Each operator of the language on a field that shares an array with a second field (array consistency), and
    # the same operator inside `$or` beside another branch: four times the elements, at most 4.5 times the work.
    pattern = {"l": {"a": [OPERATORS[operator]], "b": ["y"]}}
    with_or = {"l": {"$or": [{"a": [OPERATORS[operator]], "b": ["y"]}, {"b": [{"prefix": "q"}], "a": ["w"]}]}}
    for rule in (pattern, with_or):
        patterns.validate(rule)
        assert _calls(rule, _mixed_values(400)) <= 4.5 * _calls(rule, _mixed_values(100))


def test_the_issue_case_answers_right_at_size() -> None:
    machine = patterns.Machine()
    machine.add_rule("r", {"detail": {"l": {"a": ["x"], "b": ["y"]}}})
    elements = [{"a": "x", "b": "z"}] * 4000
    assert machine.matches_for_event({"detail": {"l": elements}}) == []
    assert machine.matches_for_event({"detail": {"l": [*elements, {"a": "x", "b": "y"}]}}) == ["r"]
    assert machine.matches_for_event({"detail": {"l": [*elements, {"a": "y", "b": "y"}]}}) == []


def test_many_floats_are_checked_against_the_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Checking each float of an array with its own search of the event text costs floats times text length: the
    # searches together may read the text only a few times over before its number tokens are indexed.
    searched = 0
    plain = flatten._check_float

    def counting(value: float, raw: str | bytes) -> int:
        nonlocal searched
        found = plain(value, raw)
        searched += found
        return found

    monkeypatch.setattr(_arrays, "_check_float", counting)
    machine = patterns.Machine()
    machine.add_rule("r", {"l": {"a": [{"numeric": [">", 2000.5]}], "b": ["y"]}})
    text = json.dumps({"l": [{"a": 0.5 + i, "b": "y"} for i in range(2000)]})
    assert machine.matches_for_event(text) == []
    assert searched <= 5 * len(text) + 4096
    # Past the switch to the token index, number text that is not a double's shortest form is still noticed: it
    # is not comparable, so it falls in no range (event-ruler), while the same value written plainly does.
    assert machine.matches_for_event(text[:-2] + ', {"a": 2000.75, "b": "y"}]}') == ["r"]
    assert machine.matches_for_event(text[:-2] + ', {"a": 2000.50000000000000001, "b": "y"}]}') == []
    assert machine.matches_for_event(text[:-2] + ', {"a": 2000.7500000000000000001, "b": "y"}]}') == []


def test_an_ip_like_string_of_colons_is_read_in_linear_time() -> None:
    # event-ruler's IPv6 regex `[0-9a-fA-F:]*:[0-9a-fA-F:]*` backtracks quadratically on a run of colons (200,000
    # colons took minutes); the deadline only guards against a hang, the check itself takes milliseconds.
    code = (
        "import patterns\n"
        "m = patterns.Machine()\n"
        'm.add_rule("r", {"a": [{"cidr": "2001:db8::/32"}]})\n'
        "print(m.matches_for_event({'a': ':' * 200_000 + '!'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
