"""White-box: a rule change recompiles only the fields it touches (`machine._BuildNode`), and snapshots taken
before it keep answering as they did.

A bus of 10,000 rules changes one rule at a time (PutRule); rebuilding every field index of the root state on each
change made a change cost as much as the whole bus (issue 7, item 4). The count of `FieldIndex` builds is the cost.
"""

from __future__ import annotations

from typing import Any

import pytest

import patterns
from patterns import _fieldindex, machine


@pytest.fixture
def index_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    builds = [0]
    real = _fieldindex.FieldIndex

    def counting(entries: list[Any]) -> Any:
        builds[0] += 1
        return real(entries)

    monkeypatch.setattr(machine, "FieldIndex", counting)
    return builds


def _bus(rules: int) -> patterns.Machine:
    m = patterns.Machine()
    for i in range(rules):
        m.add_rule(f"r{i}", {f"f{i % 100}": [f"v{i}"], "source": [{"prefix": f"s{i % 7}"}]})
    return m


def test_one_changed_rule_rebuilds_only_the_indexes_on_its_path(index_builds: list[int]) -> None:
    m = _bus(1000)
    before = m.snapshot()
    assert index_builds[0] > 1000  # every state with edges, once
    index_builds[0] = 0
    m.add_rule("new", {"f5": ["v-new"], "source": [{"prefix": "s0"}]})
    after = m.snapshot()
    # The root's `f5` field and the new state's `source` field; not the root's 99 other fields, not the states
    # below them.
    assert index_builds[0] == 2
    index_builds[0] = 0
    assert m.delete_rule("r5")  # r5 is on f5 too: the root's f5 index and r5's pruned branch
    deleted = m.snapshot()
    assert index_builds[0] == 1
    for snapshot, expected in ((before, ["r5"]), (after, ["r5"]), (deleted, [])):
        assert snapshot.matches_for_event({"f5": "v5", "source": "s5-x"}) == expected
    assert before.matches_for_event({"f5": "v-new", "source": "s0"}) == []
    assert (
        after.matches_for_event({"f5": "v-new", "source": "s0"})
        == deleted.matches_for_event({"f5": "v-new", "source": "s0"})
        == ["new"]
    )


def test_an_unchanged_machine_recompiles_nothing(index_builds: list[int]) -> None:
    m = _bus(50)
    first = m.snapshot()
    index_builds[0] = 0
    assert m.snapshot()._compiled is first._compiled
    assert index_builds[0] == 0


def test_incremental_changes_leave_the_same_answers_as_a_fresh_build() -> None:
    m = _bus(300)
    for i in range(0, 300, 3):
        m.delete_rule(f"r{i}")
    for i in range(0, 300, 6):
        m.add_rule(f"r{i}", {f"f{(i + 1) % 100}": [f"v{i}"], "source": [{"prefix": f"s{i % 7}"}]})
    fresh = patterns.Machine()
    for name in m.rule_names():
        i = int(name[1:])
        field = f"f{(i + 1) % 100}" if i % 3 == 0 else f"f{i % 100}"
        fresh.add_rule(name, {field: [f"v{i}"], "source": [{"prefix": f"s{i % 7}"}]})
    for i in range(300):
        for field in (f"f{i % 100}", f"f{(i + 1) % 100}"):
            event = {field: f"v{i}", "source": f"s{i % 7}!"}
            assert m.matches_for_event(event) == fresh.matches_for_event(event), event
