"""AWS-recorded conformance cases (`tests/patterns/data/event-patterns.jsonl`): every one must pass.

Each case was recorded against EventBridge's TestEventPattern. A case gives the pattern parsed (`pattern`) or as
raw text (`pattern_raw`, for malformed JSON) and the event parsed (`event`) or raw (`event_raw`). We check
`patterns.matches`, `patterns.validate` and a `Machine` holding the rule; for invalid patterns the message must equal
AWS's first line (`error_message`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import patterns
from tests.patterns._check import invalid_message, matched

CASES_PATH = Path(__file__).resolve().parent / "data" / "event-patterns.jsonl"


def _load_cases() -> list[dict[str, Any]]:
    with CASES_PATH.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


CASES = _load_cases()


def _pattern(case: dict[str, Any]) -> Any:
    return case["pattern_raw"] if "pattern_raw" in case else case["pattern"]


def _event(case: dict[str, Any]) -> Any:
    return case["event_raw"] if "event_raw" in case else case["event"]


def test_corpus_is_present_and_covers_every_outcome() -> None:
    outcomes = {case["expected"] for case in CASES}
    assert outcomes == {"match", "no-match", "invalid"}
    assert len(CASES) >= 97


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_conformance_case(case: dict[str, Any]) -> None:
    pattern, event = _pattern(case), _event(case)
    if case["expected"] == "invalid":
        assert case["error_code"] == "InvalidEventPatternException"
        assert invalid_message(pattern) == case["error_message"]
        assert "\n" not in case["error_message"]
    else:
        patterns.validate(pattern)
        assert matched(pattern, event) is (case["expected"] == "match")


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["expected"] != "invalid"], ids=lambda c: c["name"] if isinstance(c, dict) else ""
)
def test_conformance_case_in_a_machine_with_every_other_valid_rule(case: dict[str, Any]) -> None:
    # One Machine holding all valid corpus patterns must give, for each event, exactly the rules whose cases
    # say "match" for that event (checked per case: its own rule is in the answer iff it should match).
    machine = _all_valid_rules_machine()
    names = machine.matches_for_event(_event(case))
    assert names == sorted(set(names))
    assert (case["name"] in names) is (case["expected"] == "match")


_MACHINE: list[Any] = []


def _all_valid_rules_machine() -> Any:
    if not _MACHINE:
        machine = patterns.Machine()
        for c in CASES:
            if c["expected"] != "invalid":
                machine.add_rule(c["name"], _pattern(c))
        _MACHINE.append(machine)
    return _MACHINE[0]
