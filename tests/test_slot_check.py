"""tests/slot_check.py, the check every test runs under, finds cross-slot scripts and transactions."""

from __future__ import annotations

from tests.slot_check import cross_slot

SAME = [b"sb:{b:1}:bus:x:ingest", b"sb:{b:1}:bus:x:counters"]
OTHER = b"sb:{b:2}:bus:y:ingest"


def test_a_script_over_two_slots_is_found() -> None:
    assert cross_slot([("EVALSHA", "abc", 2, *SAME, "arg")]) == []
    (problem,) = cross_slot([("EVALSHA", "abc", 2, SAME[0], OTHER, "arg")])
    assert "a script over 2 slots" in problem
    assert cross_slot([("EVAL", "return 1", 1, SAME[0], OTHER)]) == []  # OTHER is an argument, not a key


def test_a_transaction_over_two_slots_is_found_with_its_watched_keys() -> None:
    assert cross_slot([("MULTI",), ("GET", SAME[0]), ("HGETALL", SAME[1]), ("EXEC",)]) == []
    assert cross_slot([("MULTI",), ("GET", SAME[0]), ("HGETALL", OTHER), ("EXEC",)]) != []
    assert cross_slot([("WATCH", OTHER), ("MULTI",), ("HSET", SAME[0], "f", "v"), ("EXEC",)]) != []


def test_a_plain_pipeline_may_span_slots() -> None:
    assert cross_slot([("XADD", SAME[0], "*", "f", "v"), ("XADD", OTHER, "*", "f", "v")]) == []
