"""The definition diagrams (sagas.diagram): a layered drawing of a description, marks for one instance, escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from sagas.diagram import render
from sagas.examples.order_to_cash.definition import order_to_cash
from sagas.instance import START
from tests.sagas._support import counter_machine

SVG = "{http://www.w3.org/2000/svg}"


def _states(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.attrib["data-state"]: g for g in root.iter(f"{SVG}g") if "state" in g.attrib.get("class", "")}


def _y(group: ET.Element) -> float:
    shape = group.find(f"{SVG}rect")
    if shape is None:
        shape = group.find(f"{SVG}circle")
        assert shape is not None
        return float(shape.attrib["cy"])
    return float(shape.attrib["y"])


def test_every_state_is_drawn_once_and_forward_edges_point_down() -> None:
    description = order_to_cash().describe()
    states = _states(render(description))
    assert set(states) == {START} | {s["name"] for s in description["states"]}
    y = {name: _y(group) for name, group in states.items()}
    assert y[START] < y["payment"] < y["approval"] < y["inventory"] < y["shipping"] < y["completed"]
    assert y["shipping"] < y["compensate:shipping"] < y["compensate:inventory"] < y["compensate:payment"]
    assert y["compensate:payment"] < y["compensated"]
    assert states["parked:payment"].attrib["data-status"] == "PARKED"


def test_an_instance_is_marked_with_its_state_and_path() -> None:
    svg = render(
        counter_machine().describe(), current="open", visited={START, "open"}, taken=[(START, "open"), ("open", "open")]
    )
    states = _states(svg)
    assert "current" in states["open"].attrib["class"]
    assert "current" not in states["done"].attrib["class"]
    root = ET.fromstring(svg)
    taken = [(g.attrib["data-from"], g.attrib["data-to"]) for g in root.iter(f"{SVG}g") if "taken" in g.attrib["class"]]
    assert sorted(taken) == [("(start)", "open"), ("open", "open")]
    titles = {t.text for t in root.iter(f"{SVG}title")}
    assert "open → done: Stop" in titles
    assert "open → expired: timeout" in titles


def test_names_and_labels_are_escaped_and_a_cycle_does_not_hang() -> None:
    description = {
        "name": "<evil>",
        "states": [
            {"name": "a&b", "status": "RUNNING", "final": False, "sends": ["<script>"]},
            {"name": "c", "status": "RUNNING", "final": False, "sends": []},
        ],
        "edges": [
            {"from": START, "to": "a&b", "label": "go", "kind": "start"},
            {"from": "a&b", "to": "c", "label": '"x" <y>', "kind": "event"},
            {"from": "c", "to": "a&b", "label": "back", "kind": "event"},
        ],
    }
    svg = render(description)
    ET.fromstring(svg)  # well-formed
    assert "<script>" not in svg
    assert "<evil>" not in svg
    assert re.search(r'data-state="a&amp;b"', svg)
    assert set(_states(svg)) == {START, "a&b", "c"}
