"""A saga definition drawn as a diagram: server-side SVG from its description (`Definition.describe()`), no script.

The layout is a small layered (Sugiyama-style) drawing, top to bottom, enough for the tens of states a saga has:

1. the edges are merged per (from, to) pair, their labels joined; self-loops (retries) are drawn as loops;
2. cycles are broken by a depth-first search from the start (an edge back to a state on the search path is
   reversed for the layout only);
3. each state's layer is its longest path from the start, so every edge but the reversed ones points down;
4. states are ordered within their layer by the mean position of their neighbours above, in a few sweeps down and
   up (the barycentre heuristic), which untangles the drawing of a steps saga into its forward path and its
   compensations;
5. edges are cubic curves; each label goes at the first point along its curve where it covers no state and no
   other label (labels of the transitions an instance took are placed first), else only in the edge's tooltip.

`render(description, current=, visited=, taken=)` marks an instance on it: the state it is in, the states it went
through and the transitions it took. Every state is a `<g class="state" data-state="NAME">` and every edge a
`<g class="edge" data-from data-to>`, with a `<title>` (a tooltip) naming them; text is escaped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from sagas.instance import START

__all__ = ["render"]

NODE_W = 168
NODE_H = 46
GAP_X = 48
LAYER_H = 112
MARGIN = 24
CHAR_W = 6.4
"""Approximate width of one character of the 11 px labels."""
_SWEEPS = 4

_FILL = {
    "RUNNING": "#e8f0fe",
    "WAITING": "#fff5dc",
    "COMPENSATING": "#fdeedd",
    "PARKED": "#fde9e9",
    "COMPLETED": "#e6f6ea",
    "COMPENSATED": "#eef0f4",
    "CANCELLED": "#eef0f4",
    "FAILED": "#fde9e9",
}
_STROKE = {
    "RUNNING": "#3b6fd8",
    "WAITING": "#b58100",
    "COMPENSATING": "#c46a10",
    "PARKED": "#c02626",
    "COMPLETED": "#1e8a43",
    "COMPENSATED": "#6b7280",
    "CANCELLED": "#6b7280",
    "FAILED": "#c02626",
}


@dataclass(slots=True)
class _Edge:
    source: str
    target: str
    labels: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)


def _merge(edges: Sequence[Mapping[str, Any]]) -> list[_Edge]:
    merged: dict[tuple[str, str], _Edge] = {}
    for edge in edges:
        key = (str(edge["from"]), str(edge["to"]))
        found = merged.setdefault(key, _Edge(*key))
        label = str(edge.get("label") or "")
        if label and label not in found.labels:
            found.labels.append(label)
        found.kinds.add(str(edge.get("kind", "")))
    return list(merged.values())


def _layers(nodes: list[str], edges: list[_Edge]) -> dict[str, int]:
    """Longest-path layers over the graph with its back edges (found by an iterative DFS) reversed."""
    out: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in edges:
        if edge.source != edge.target:
            out[edge.source].append(edge.target)
    back: set[tuple[str, str]] = set()
    colour: dict[str, int] = {}
    for root in nodes:
        if root in colour:
            continue
        colour[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
            elif colour.get(child) == 1:
                back.add((node, child))
            elif child not in colour:
                colour[child] = 1
                stack.append((child, iter(out[child])))
    forward = {n: [t for t in out[n] if (n, t) not in back] for n in nodes}
    indegree = dict.fromkeys(nodes, 0)
    for n in nodes:
        for t in forward[n]:
            indegree[t] += 1
    layer = dict.fromkeys(nodes, 0)
    ready = [n for n in nodes if indegree[n] == 0]
    while ready:
        node = ready.pop(0)
        for t in forward[node]:
            layer[t] = max(layer[t], layer[node] + 1)
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    return layer


def _order(nodes: list[str], layer: dict[str, int], edges: list[_Edge]) -> list[list[str]]:
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=0) + 1)]
    for node in nodes:  # definition order first: the declared flow reads left to right
        rows[layer[node]].append(node)
    up: dict[str, list[str]] = {n: [] for n in nodes}
    down: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in edges:
        if edge.source != edge.target:
            up[edge.target].append(edge.source)
            down[edge.source].append(edge.target)

    def sweep(indices: range, neighbours: dict[str, list[str]]) -> None:
        for i in indices:
            position = {n: p for row in rows for p, n in enumerate(row)}
            here = rows[i]

            def centre(node: str, here: list[str] = here, position: dict[str, int] = position) -> float:
                near = [position[n] for n in neighbours[node] if n not in here]
                return sum(near) / len(near) if near else float(here.index(node))

            rows[i] = sorted(here, key=centre)

    for _ in range(_SWEEPS):
        sweep(range(1, len(rows)), up)
        sweep(range(len(rows) - 2, -1, -1), down)
    return rows


def _label_of(state: Mapping[str, Any]) -> str:
    sends = [str(s) for s in state.get("sends", [])]
    return ("sends " + ", ".join(sends)) if sends else str(state.get("status", "")).lower()


def render(
    description: Mapping[str, Any],
    *,
    current: str | None = None,
    visited: Collection[str] = (),
    taken: Collection[tuple[str, str]] = (),
) -> str:
    """The SVG (a string) of a saga description; `current`, `visited` and `taken` mark one instance on it."""
    states = {str(s["name"]): s for s in description.get("states", [])}
    nodes = [START, *states]
    edges = [e for e in _merge(description.get("edges", [])) if e.source in nodes and e.target in nodes]
    layer = _layers(nodes, edges)
    rows = _order(nodes, layer, edges)
    widest = max(len(row) for row in rows)
    width = MARGIN * 2 + widest * NODE_W + (widest - 1) * GAP_X + 160
    height = MARGIN * 2 + len(rows) * LAYER_H - (LAYER_H - NODE_H)
    centre_x: dict[str, float] = {}
    top_y: dict[str, float] = {}
    for i, row in enumerate(rows):
        row_w = len(row) * NODE_W + (len(row) - 1) * GAP_X
        left = (width - 160 - row_w) / 2
        for j, node in enumerate(row):
            centre_x[node] = left + j * (NODE_W + GAP_X) + NODE_W / 2
            top_y[node] = MARGIN + i * LAYER_H
    taken_set = set(taken)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="saga-diagram" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" '
        f'aria-label="{escape(str(description.get("name", "saga")))}: states and transitions">',
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a93a3"/></marker>'
        '<marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b3cc4"/></marker>'
        "</defs>",
    ]
    boxes: list[Box] = [(centre_x[n] - NODE_W / 2, top_y[n], NODE_W, NODE_H) for n in nodes]
    # taken transitions label first, then the rest in the declared order: what the reader follows wins the space
    for edge in sorted(edges, key=lambda e: (e.source, e.target) not in taken_set):
        curve = _curve(edge, centre_x, top_y, layer)
        label = _short(" / ".join(edge.labels))
        spot = _place(curve, label, boxes, edge.source == edge.target) if label else None
        parts.append(_edge(edge, curve, spot, (edge.source, edge.target) in taken_set))
    parts.extend(
        _node(node, states.get(node), (centre_x[node], top_y[node]), current=node == current, visited=node in visited)
        for node in nodes
    )
    parts.append("</svg>")
    return "".join(parts)


Point = tuple[float, float]
Box = tuple[float, float, float, float]


def _curve(edge: _Edge, cx: dict[str, float], ty: dict[str, float], layer: dict[str, int]) -> tuple[Point, ...]:
    """The edge's cubic curve: start, two control points, end."""
    sx, sy = cx[edge.source], ty[edge.source]
    if edge.source == edge.target:  # a retry: a loop on the right side
        x, y = sx + NODE_W / 2, sy + NODE_H / 2
        return (x, y - 12), (x + 46, y - 30), (x + 46, y + 30), (x, y + 12)
    tx, tyy = cx[edge.target], ty[edge.target]
    if layer[edge.target] > layer[edge.source]:
        x1, y1, x2, y2 = sx, sy + NODE_H, tx, tyy
        bend = (y2 - y1) * 0.45
        return (x1, y1), (x1, y1 + bend), (x2, y2 - bend), (x2, y2)
    side = 1 if tx >= sx else -1  # drawn upwards or sideways: leave by the side, come in by the side
    x1, y1 = sx + side * NODE_W / 2, sy + NODE_H / 2
    x2, y2 = tx - side * NODE_W / 2, tyy + NODE_H / 2
    reach = max(60.0, abs(x2 - x1) * 0.4)
    return (x1, y1), (x1 + side * reach, y1), (x2 - side * reach, y2), (x2, y2)


def _at(curve: tuple[Point, ...], t: float) -> Point:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = curve
    u = 1 - t
    return (
        u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3,
        u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3,
    )


def _overlaps(box: Box, boxes: Sequence[Box]) -> bool:
    x, y, w, h = box
    return any(x < bx + bw and bx < x + w and y < by + bh and by < y + h for bx, by, bw, bh in boxes)


_LABEL_TS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78, 0.15, 0.85)


def _place(curve: tuple[Point, ...], text: str, taken: list[Box], loop: bool) -> Point | None:
    """Where the label goes: the first point along the curve where it overlaps no state and no other label."""
    width, height = len(text) * CHAR_W + 4, 14.0
    candidates = [(curve[1][0] - 4, (curve[0][1] + curve[3][1]) / 2)] if loop else [_at(curve, t) for t in _LABEL_TS]
    for x, y in candidates:
        box = (x if loop else x - width / 2, y - height / 2, width, height)
        if not _overlaps(box, taken):
            taken.append(box)
            return (box[0] + width / 2, y)
    return None


def _edge(edge: _Edge, curve: tuple[Point, ...], spot: Point | None, taken: bool) -> str:
    label = " / ".join(edge.labels)
    colour, marker, stroke = ("#5b3cc4", "arrow-taken", 2.4) if taken else ("#8a93a3", "arrow", 1.3)
    dashed = ' stroke-dasharray="5 4"' if edge.kinds <= {"timer", "control"} else ""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = curve
    path = f"M{x0:.1f},{y0:.1f} C{x1:.1f},{y1:.1f} {x2:.1f},{y2:.1f} {x3:.1f},{y3:.1f}"
    title = f"{edge.source} → {edge.target}" + (f": {label}" if label else "")
    text = ""
    if spot is not None:
        text = (
            f'<text x="{spot[0]:.1f}" y="{spot[1] + 4:.1f}" text-anchor="middle" font-size="11" fill="#3d4552" '
            f'stroke="#ffffff" stroke-width="3" paint-order="stroke">{escape(_short(label))}</text>'
        )
    return (
        f'<g class="edge{" taken" if taken else ""}" data-from="{escape(edge.source)}" data-to="{escape(edge.target)}">'
        f"<title>{escape(title)}</title>"
        f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{stroke}"{dashed} marker-end="url(#{marker})"/>'
        f"{text}</g>"
    )


def _short(label: str, limit: int = 44) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _node(name: str, state: Mapping[str, Any] | None, at: Point, *, current: bool, visited: bool) -> str:
    x, y = at
    classes = "state" + (" current" if current else "") + (" visited" if visited else "")
    if state is None:  # the start
        return (
            f'<g class="{classes}" data-state="{escape(name)}"><title>start</title>'
            f'<circle cx="{x:.1f}" cy="{y + NODE_H / 2:.1f}" r="9" fill="#1d2330"/>'
            f'<text x="{x + 16:.1f}" y="{y + NODE_H / 2 + 4:.1f}" font-size="12" fill="#5d6675">start</text></g>'
        )
    status = str(state.get("status", "RUNNING"))
    fill = "#f4f1ff" if visited and not current else _FILL.get(status, "#ffffff")
    stroke = "#5b3cc4" if current else _STROKE.get(status, "#6b7280")
    width = 3.5 if current else (2.0 if state.get("final") else 1.4)
    description = str(state.get("description") or "")
    title = f"{name} ({status})" + (f": {description}" if description else "")
    left, radius = x - NODE_W / 2, NODE_H / 2 if state.get("final") else 9
    return (
        f'<g class="{classes}" data-state="{escape(name)}" data-status="{escape(status)}">'
        f"<title>{escape(title)}</title>"
        f'<rect x="{left:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="{radius}" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>'
        f'<text x="{x:.1f}" y="{y + 19:.1f}" text-anchor="middle" font-size="13" font-weight="600" fill="#1d2330">'
        f"{escape(_short(name, 24))}</text>"
        f'<text x="{x:.1f}" y="{y + 35:.1f}" text-anchor="middle" font-size="10.5" fill="#5d6675">'
        f"{escape(_short(_label_of(state), 28))}</text></g>"
    )
