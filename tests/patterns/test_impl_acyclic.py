"""White-box: compiled state holds no reference cycle, so a replaced snapshot is freed by reference counting alone.

The router keeps compiled rules out of the cyclic collector's reach (`gc.freeze`, router.matchers.HeapPolicy): a full
collection over 10,000 compiled rules held the event loop for 150-250 ms (issue 7, item 4). That is only sound if
nothing compiled needs the collector to be freed: a cycle (an index holding its own bound method, a snapshot holding
generated code that calls back into it) would make every replaced snapshot frozen garbage for good. So: build a
Machine with every operator, match events that take every path (generated code, general walk, arrays, aliased
paths), change it, drop it, and the collector must find nothing of it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

import patterns
from patterns import machine

PATTERNS: dict[str, dict[str, Any]] = {
    "exact": {"source": ["a", "b"], "detail": {"n": [1, "x", None, True]}},
    "prefix": {"source": [{"prefix": "aws."}], "detail": {"s": [{"prefix": {"equals-ignore-case": "AB"}}]}},
    "suffix": {"detail": {"s": [{"suffix": ".png"}, {"suffix": {"equals-ignore-case": ".JPG"}}]}},
    "ignore-case": {"detail": {"s": [{"equals-ignore-case": "MiXeD"}]}},
    "wildcard": {"detail": {"s": [{"wildcard": "a*b*c"}]}},
    "numeric": {"detail": {"n": [{"numeric": [">", 0, "<=", 10]}], "m": [{"numeric": ["=", 3.5]}]}},
    "cidr": {"detail": {"ip": [{"cidr": "10.0.0.0/8"}]}},
    "exists": {"detail": {"s": [{"exists": True}], "gone": [{"exists": False}]}},
    "anything-but": {"detail": {"s": [{"anything-but": ["no", "nope"]}], "t": [{"anything-but": {"prefix": "x"}}]}},
    "or": {"$or": [{"source": ["a"]}, {"detail": {"n": [{"numeric": [">", 5]}]}}]},
    "array-fields": {"detail": {"l": {"a": ["x"], "b": ["y"]}}},
    "dotted": {"detail": {"d.e": ["v"]}, "detail.d": {"e": ["w"]}},
}
EVENTS: list[Any] = [
    {"source": "a", "detail": {"n": 5, "s": "abxc.png", "ip": "10.1.2.3", "m": 3.5, "t": "y"}},
    {"source": "aws.ec2", "detail": {"s": "MIXED", "gone": None}},
    b'{"source": "b", "detail": {"n": 12.25, "s": "ab.JPG", "l": [{"a": "x", "b": "y"}, {"a": "x", "b": "z"}]}}',
    '{"source": "c", "detail": {"l": [{"a": "x", "b": "y"}], "d.e": "v", "d": {"e": "w"}, "n": [1, 2, 30]}}',
    {"source": ["a", "aws.x"], "detail": {"s": ["no", "abc"], "n": [0.5, 11]}},
]


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The collector off for the test, and the garbage it finds kept (`DEBUG_SAVEALL`) so the test can look."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _garbage_of_patterns() -> list[str]:
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    found = sorted({type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("patterns")})
    gc.set_debug(0)
    gc.garbage.clear()
    return found


def _exercise(m: patterns.Machine) -> list[list[str]]:
    answers = []
    for _ in range(machine.SPECIALISE_AFTER + 2):  # past the warm-up: the generated code runs too
        answers = [m.matches_for_event(event) for event in EVENTS]
    return answers


def test_a_machine_with_every_operator_leaves_no_cycle_behind(collector_off: None) -> None:
    m = patterns.Machine()
    for name, pattern in PATTERNS.items():
        m.add_rule(name, pattern)
    first = m.snapshot(specialise=True)
    answers = _exercise(m)
    assert all(answers), answers  # every event matched something: the paths above were all taken
    m.delete_rule("numeric")
    m.add_rule("exact", {"source": ["c"]})
    second = m.snapshot()
    _exercise(m)
    assert first.matches_for_event(EVENTS[0]) != second.matches_for_event(EVENTS[0])
    del first, second, m, answers
    assert _garbage_of_patterns() == []


def test_a_replaced_snapshot_is_freed_while_the_machine_lives_on(collector_off: None) -> None:
    m = patterns.Machine()
    for name, pattern in PATTERNS.items():
        m.add_rule(name, pattern)
    for i in range(8):
        m.add_rule(f"r{i}", {"source": [f"s{i}"]})
        snapshot = m.snapshot(specialise=True)
        for event in EVENTS:
            snapshot.matches_for_event(event)
    del snapshot
    assert _garbage_of_patterns() == []
    assert m.matches_for_event({"source": "s3"}) == ["r3"]
