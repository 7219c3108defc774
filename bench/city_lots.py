"""A deterministic "city lots" corpus and rule sets for the matcher benchmark (bench/patterns_bench.py).

The matcher benchmark that EventBridge's event-ruler and quamina publish runs on "citylots": San Francisco's lots
as GeoJSON features, about 200,000 records of several hundred bytes each. That file is not shipped here, so this
module makes records of the same shape and of similar size (about 630 bytes in layout 1, 820 in layout 2) from a
seed: a `Feature` with lot `properties` (block and lot numbers, street, street type, odd/even side, address range)
and a polygon `geometry` whose points are numbers inside nested arrays.

- Layout 1 is the GeoJSON shape: each point an `[x, y, z]` array.
- Layout 2 makes arrays of objects: each point `{"x", "y", "z"}`, and `geometry.firstCoordinates` holds the first.

Rule sets exercise each operator of the pattern language (exact, prefix, suffix, equals-ignore-case, wildcard,
numeric ranges, anything-but and its forms, exists, matches inside arrays, several fields at once). Each rule comes
with `expected`: how many corpus events it matches, counted here by a plain Python predicate written next to its
pattern (not by a pattern matcher), so the benchmark can check the compiled matcher's counts.

    python -m bench.city_lots events --count 213068 --seed 1 --layout 2 > events.jsonl
    python -m bench.city_lots rules --count 213068 --seed 1 --layout 2 > rules.json  # {SET: [{name, pattern, ...}]}
    python -m bench.city_lots scale --rules 10000 --seed 1 > scale.json             # [{name, pattern}]

Standard library only; the same arguments always give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["VERSION", "events", "rule_sets", "scale_rules"]

VERSION = 2
"""Changes whenever the same arguments would give other bytes (bench.patterns_bench names its cached files by it)."""

Event = dict[str, Any]
Predicate = Callable[[Event], bool]

_STREET_PARTS = (
    "OAK", "PINE", "ELM", "CEDAR", "MAPLE", "WILLOW", "BIRCH", "ASPEN", "LAUREL", "CYPRESS", "SPRUCE", "HAZEL",
    "MARKET", "MISSION", "HARBOR", "BAY", "OCEAN", "LAKE", "RIDGE", "VALLEY", "SUMMIT", "CANYON", "MESA", "VISTA",
    "NORTH", "SOUTH", "EAST", "WEST", "UNION", "LIBERTY", "HOPE", "GRAND", "CENTRAL", "PARK", "GARDEN", "MEADOW",
)  # fmt: skip


def _ordinal(n: int) -> str:
    suffix = {1: "ST", 2: "ND", 3: "RD"}.get(n % 10, "TH") if n // 10 != 1 else "TH"
    return f"{n}{suffix}"


_TWO_WORDS = tuple(f"{a} {b}" for a, b in zip(_STREET_PARTS[::3], _STREET_PARTS[1::3], strict=True))
STREETS = tuple(sorted({*_STREET_PARTS, *(_ordinal(n) for n in range(1, 49)), *_TWO_WORDS}))
"""Street names: single words, numbered streets, and two-word names."""
STREET_TYPES = ("ST", "AVE", "BLVD", "WAY", "CT", "PL", "TER", "LN", "DR")

_X_RANGE = (-122.515, -122.357)
_Y_RANGE = (37.708, 37.833)


def _event(index: int, rng: random.Random, layout: int) -> Event:
    block = rng.randrange(1, 7600)
    lot = rng.randrange(1, 400)
    street = STREETS[int(rng.triangular(0, len(STREETS) - 1, 0))]  # some streets much more frequent than others
    start = rng.randrange(0, 4000)
    properties: dict[str, Any] = {
        "MAPBLKLOT": f"{block:04d}{lot:03d}",
        "BLKLOT": f"{block:04d}{lot:03d}",
        "BLOCK_NUM": f"{block:04d}",
        "LOT_NUM": f"{lot:03d}",
        "FROM_ST": str(start),
        "TO_ST": str(start + rng.randrange(0, 60)),
        "STREET": street,
        "ODD_EVEN": rng.choice("OE"),
    }
    if rng.random() < 0.8:  # about a fifth of the lots have no street type: `exists` has both answers
        properties["ST_TYPE"] = rng.choice(STREET_TYPES)
    x0, y0 = rng.uniform(*_X_RANGE), rng.uniform(*_Y_RANGE)
    points = [(round(x0 + rng.uniform(-4e-4, 4e-4), 12), round(y0 + rng.uniform(-4e-4, 4e-4), 12)) for _ in range(9)]
    points.append(points[0])  # a closed ring
    kind = "MultiPolygon" if index % 23 == 0 else "Polygon"
    geometry: dict[str, Any] = {"type": kind}
    if layout == 1:
        geometry["coordinates"] = [[[x, y, 0.0] for x, y in points]]
    else:
        ring = [{"x": x, "y": y, "z": 0.0} for x, y in points]
        geometry["coordinates"] = [ring]
        geometry["firstCoordinates"] = ring[0]
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def events(count: int, seed: int, layout: int) -> Iterator[Event]:
    rng = random.Random(f"city-lots:{seed}:{layout}")
    for index in range(count):
        yield _event(index, rng, layout)


# -- rules --------------------------------------------------------------------------------------------------------


def _prop(event: Event, name: str) -> Any:
    return event["properties"].get(name)


def _xs(event: Event, layout: int) -> list[float]:
    """Every x of the event's points (numbers inside arrays)."""
    ring = event["geometry"]["coordinates"][0]
    return [point[0] for point in ring] if layout == 1 else [point["x"] for point in ring]


def _field_is(name: str, value: str) -> Predicate:
    return lambda event: _prop(event, name) == value


def _field_starts(name: str, prefix: str) -> Predicate:
    return lambda event: str(_prop(event, name)).startswith(prefix)


def _street_ends(suffix: str) -> Predicate:
    return lambda event: str(_prop(event, "STREET")).endswith(suffix)


def _street_folds_to(street: str) -> Predicate:
    return lambda event: str(_prop(event, "STREET")).lower() == street.lower()


def _combo(street: str, side: str) -> Predicate:
    return lambda event: (
        _prop(event, "STREET") == street and _prop(event, "ODD_EVEN") == side and event["geometry"]["type"] == "Polygon"
    )


def _block_and_multipolygon(block: str) -> Predicate:
    return lambda event: _prop(event, "BLOCK_NUM") == block and event["geometry"]["type"] == "MultiPolygon"


def _wildcard(pattern: str) -> Predicate:
    regex = re.compile(".*".join(re.escape(piece) for piece in pattern.split("*")), re.S)
    return lambda event: regex.fullmatch(_prop(event, "STREET")) is not None


def _on_street(condition: Any) -> dict[str, Any]:
    return {"properties": {"STREET": [condition]}}


def _on_x(condition: Any, layout: int) -> dict[str, Any]:
    """A condition on the x of any point. Layout 1: every number of `geometry.coordinates` (arrays are transparent;
    y and z are far outside any x range, so only an x can match); layout 2: `geometry.coordinates.x`."""
    if layout == 1:
        return {"geometry": {"coordinates": [condition]}}
    return {"geometry": {"coordinates": {"x": [condition]}}}


def _fixed_sets(picks: list[Event], layout: int) -> dict[str, list[tuple[str, dict[str, Any], Predicate]]]:
    """(name, pattern, predicate) per rule set; values taken from `picks`, events of the corpus."""
    streets = list(dict.fromkeys(_prop(e, "STREET") for e in picks))  # distinct, in pick order
    blocks = list(dict.fromkeys(_prop(e, "BLOCK_NUM") for e in picks))
    mid = (_X_RANGE[0] + _X_RANGE[1]) / 2
    lo, hi = mid - 0.01, mid + 0.01
    west = _X_RANGE[0] + 0.02
    band = _on_x({"numeric": [">", lo, "<", hi]}, layout)
    sets: dict[str, list[tuple[str, dict[str, Any], Predicate]]] = {
        "EXACT": [(f"exact-street-{s}", _on_street(s), _field_is("STREET", s)) for s in streets[:4]]
        + [
            (
                f"exact-lot-{e['properties']['MAPBLKLOT']}",
                {"properties": {"MAPBLKLOT": [e["properties"]["MAPBLKLOT"]]}},
                _field_is("MAPBLKLOT", e["properties"]["MAPBLKLOT"]),
            )
            for e in picks[4:8]
        ],
        "PREFIX": [
            (f"prefix-{p}", _on_street({"prefix": p}), _field_starts("STREET", p))
            for p in sorted({s[:2] for s in streets[:6]})
        ]
        + [
            (
                f"prefix-block-{b}",
                {"properties": {"BLOCK_NUM": [{"prefix": b}]}},
                _field_starts("BLOCK_NUM", b),
            )
            for b in ("00", "12", "75")
        ],
        "SUFFIX": [(f"suffix-{x}", _on_street({"suffix": x}), _street_ends(x)) for x in ("TH", "ND", "AY", "AK", "LE")],
        "EQUALS_IGNORE_CASE": [
            (
                f"eic-{s.lower()}",
                _on_street({"equals-ignore-case": s.lower().title()}),
                _street_folds_to(s),
            )
            for s in streets[:5]
        ],
        "WILDCARD": [
            (f"wildcard-{w}", _on_street({"wildcard": w}), _wildcard(w)) for w in ("*A*", "*E*E*", "1*H", "* *")
        ],
        "NUMERIC": [
            ("numeric-x-band", band, lambda e: any(lo < x < hi for x in _xs(e, layout))),
            (
                "numeric-street-type-and-band",
                {"properties": {"ST_TYPE": ["AVE"]}, **band},
                lambda e: _prop(e, "ST_TYPE") == "AVE" and any(lo < x < hi for x in _xs(e, layout)),
            ),
            (
                "numeric-x-west",
                _on_x({"numeric": ["<", west]}, layout),
                lambda e: any(x < west for x in _xs(e, layout)),
            ),
        ],
        "ANYTHING_BUT": [
            (
                "anything-but-streets",
                _on_street({"anything-but": streets[:3]}),
                lambda e: _prop(e, "STREET") not in streets[:3],
            ),
            (
                "anything-but-prefix",
                _on_street({"anything-but": {"prefix": "M"}}),
                lambda e: not _prop(e, "STREET").startswith("M"),
            ),
            (
                "anything-but-suffix",
                _on_street({"anything-but": {"suffix": "TH"}}),
                lambda e: not _prop(e, "STREET").endswith("TH"),
            ),
            (
                "anything-but-ignore-case",
                _on_street({"anything-but": {"equals-ignore-case": [s.lower() for s in streets[:2]]}}),
                lambda e: _prop(e, "STREET").lower() not in {s.lower() for s in streets[:2]},
            ),
        ],
        "EXISTS": [
            (
                "street-type-exists",
                {"properties": {"ST_TYPE": [{"exists": True}]}},
                lambda e: "ST_TYPE" in e["properties"],
            ),
            (
                "street-type-missing",
                {"properties": {"ST_TYPE": [{"exists": False}]}},
                lambda e: "ST_TYPE" not in e["properties"],
            ),
        ],
    }
    sets["PARTIAL_COMBO"] = [
        (
            f"combo-{s}-{side}",
            {"properties": {"STREET": [s], "ODD_EVEN": [side]}, "geometry": {"type": ["Polygon"]}},
            _combo(s, side),
        )
        for s in streets[:3]
        for side in "OE"
    ] + [
        (
            f"combo-block-{b}-type",
            {"properties": {"BLOCK_NUM": [b]}, "geometry": {"type": ["MultiPolygon"]}},
            _block_and_multipolygon(b),
        )
        for b in blocks[:2]
    ]
    return sets


def rule_sets(count: int, seed: int, layout: int) -> dict[str, list[dict[str, Any]]]:
    """{set name: [{name, pattern, expected}]} for the corpus `events(count, seed, layout)`."""
    rng = random.Random(f"city-lots-rules:{seed}")
    corpus = list(events(count, seed, layout))
    picks = [corpus[rng.randrange(len(corpus))] for _ in range(40)]
    out: dict[str, list[dict[str, Any]]] = {}
    for set_name, rules in _fixed_sets(picks, layout).items():
        out[set_name] = [
            {"name": name, "pattern": pattern, "expected": sum(1 for event in corpus if predicate(event))}
            for name, pattern, predicate in rules
        ]
    return out


def scale_rules(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` rules of mixed kinds over the layout-2 corpus, for cost against the number of rules (no counts)."""
    rng = random.Random(f"city-lots-scale:{seed}")
    out = []
    for index in range(n):
        street = STREETS[rng.randrange(len(STREETS))]
        kind = index % 6
        block, lot = f"{rng.randrange(1, 7600):04d}", f"{rng.randrange(1, 400):03d}"
        if kind == 0:
            pattern: dict[str, Any] = {"properties": {"MAPBLKLOT": [block + lot]}}
        elif kind == 1:
            prefix = street[: rng.randrange(1, len(street) + 1)]
            pattern = {"properties": {"STREET": [{"prefix": prefix}], "ODD_EVEN": [rng.choice("OE")]}}
        elif kind == 2:
            pattern = {"properties": {"STREET": [{"equals-ignore-case": street.lower()}]}}
        elif kind == 3:
            low = round(rng.uniform(*_X_RANGE), 6)
            pattern = {"geometry": {"firstCoordinates": {"x": [{"numeric": [">=", low, "<", round(low + 0.002, 6)]}]}}}
        elif kind == 4:
            pattern = {"properties": {"BLOCK_NUM": [block], "FROM_ST": [{"anything-but": [str(rng.randrange(4000))]}]}}
        else:
            pattern = {"properties": {"STREET": [{"suffix": street[-2:]}], "LOT_NUM": [lot]}}
        out.append({"name": f"scale-{index}", "pattern": pattern})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.city_lots", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("events", "rules"):
        sub = commands.add_parser(name, help=f"write the corpus's {name}")
        sub.add_argument("--count", type=int, default=213_068, help="number of events (default 213,068)")
        sub.add_argument("--seed", type=int, default=1, help="the corpus seed (default 1)")
        sub.add_argument("--layout", type=int, choices=(1, 2), default=2, help="1: GeoJSON arrays, 2: objects")
    scale = commands.add_parser("scale", help="write N mixed rules")
    scale.add_argument("--rules", type=int, required=True, help="number of rules")
    scale.add_argument("--seed", type=int, default=1, help="the rule seed (default 1)")
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.command == "events":
        for event in events(args.count, args.seed, args.layout):
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    elif args.command == "rules":
        json.dump(rule_sets(args.count, args.seed, args.layout), out, indent=1)
    else:
        json.dump(scale_rules(args.rules, args.seed), out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
