"""A deliberately simple reference evaluator of EventBridge patterns, to check the compiled `patterns.Machine`.

It evaluates a parsed, valid pattern directly against a parsed event: no compilation, no automaton, no caching,
and nothing shared with `patterns/`. It is slow (it enumerates combinations) and only meant for small inputs.
Semantics follow event-ruler, EventBridge's matcher (docs/patterns.md):

- The event is flattened to leaves `(path, value, trail)`. Paths join keys with `.` and arrays are transparent;
  `trail` records, for every array on the way, which element the leaf sits in.
- The pattern is expanded into sub-rules, one per `$or` branch (cross product with the enclosing fields). A rule
  matches if any sub-rule does.
- A sub-rule matches if each field can be given either an event leaf that satisfies one of its alternatives, or
  "absent" when `{"exists": false}` is among them, such that (array consistency) the chosen leaves never sit in
  different elements of the same array, and no leaf at an "absent" field's path sits in elements consistent with
  the chosen ones (absence is judged inside the array elements chosen by the other fields).
- Numbers are held as text. Text that is exactly the shortest repr of a finite double is "comparable" and compared
  by value; other text (e.g. `123456789012345678`) only equals the same text.

Number text comes from the parsed value (`json.dumps`), so events here should be given to the Machine parsed or as
`json.dumps` of the same value.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

Trail = tuple[tuple[tuple[Any, ...], int], ...]
Leaf = tuple[str, Any, Trail]

RESERVED_IN_OR = frozenset(
    [
        *("exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric"),
        *("cidr", "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case", "date-after"),
        *("date-on-or-after", "date-before", "date-on-or-before", "in-date-range", "ip-address-in-range"),
        "ip-address-not-in-range",
    ]
)
_IPV4_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_IPV6_LIKE = re.compile(r"^[0-9a-fA-F:]*:[0-9a-fA-F:]*$")


# --- events ----------------------------------------------------------------------------------------------------


def leaves(event: Mapping[str, Any]) -> list[Leaf]:
    """Every leaf value of the event with its dotted path and array trail."""
    out: list[Leaf] = []

    def walk(node: Any, path: str, trail: Trail, where: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key, trail, (*where, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, path, (*trail, (where, index)), (*where, index))
        else:
            out.append((path, node, trail))

    walk(event, "", (), ())
    return out


def consistent(a: Trail, b: Trail) -> bool:
    """Two leaves may be used together unless they sit in different elements of the same array."""
    chosen = dict(a)
    return all(chosen.get(array, index) == index for array, index in b)


# --- values ----------------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_text(value: Any) -> str:
    return json.dumps(value)


def comparable(text: str) -> float | None:
    """The double for number text that is exactly a double's shortest repr, else None (event-ruler >= 1.8)."""
    try:
        exact = Decimal(text)
        as_float = float(text)
    except (InvalidOperation, ValueError):
        return None
    if not math.isfinite(as_float) or Decimal(repr(as_float)) != exact:
        return None
    return as_float


def _fold(text: str) -> str:
    # Per-character case folding; characters whose lower case is longer than one character are kept as they are.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not (_IPV4_LIKE.match(text) or _IPV6_LIKE.match(text)):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _numbers_equal(rule: Any, value: Any) -> bool:
    rule_text, value_text = number_text(rule), number_text(value)
    if rule_text == value_text:
        return True
    a, b = comparable(rule_text), comparable(value_text)
    return a is not None and b is not None and a == b


def _exact(rule: Any, value: Any) -> bool:
    if rule is None or isinstance(rule, bool):
        return value is rule
    if _is_number(rule):
        return _is_number(value) and _numbers_equal(rule, value)
    if not isinstance(value, str):
        return False
    if rule == value:
        return True
    rule_ip, value_ip = _ip(rule), _ip(value)
    return rule_ip is not None and rule_ip == value_ip


def _numeric(terms: list[Any], value: Any) -> bool:
    if not _is_number(value):
        return False
    number = comparable(number_text(value))
    if number is None:
        return False
    checks = {
        "=": lambda a, b: a == b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return all(checks[op](number, float(bound)) for op, bound in zip(terms[::2], terms[1::2], strict=True))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _excluded(spec: Any, value: Any) -> bool:
    """Whether `value` is one of the values an anything-but excludes."""
    if isinstance(spec, dict):
        ((kind, arg),) = spec.items()
        if not isinstance(value, str):
            return False
        tests = {
            "prefix": value.startswith,
            "suffix": value.endswith,
            "equals-ignore-case": lambda s: _fold(value) == _fold(s),
            "wildcard": lambda s: _wildcard_regex(s).fullmatch(value) is not None,
        }
        return any(tests[kind](s) for s in _as_list(arg))
    for excluded in _as_list(spec):
        if isinstance(excluded, str) and value == excluded and isinstance(value, str):
            return True
        if _is_number(excluded) and _is_number(value):
            number = comparable(number_text(value))
            if number is not None and number == float(excluded):
                return True
    return False


def value_matches(condition: Any, value: Any) -> bool:
    """Whether one alternative of a pattern field (not `exists: false`) accepts one event leaf."""
    if not isinstance(condition, dict):
        return _exact(condition, value)
    ((kind, arg),) = condition.items()
    if kind == "exists":
        return arg is True
    if kind == "anything-but":
        return not _excluded(arg, value)
    if kind == "numeric":
        return _numeric(arg, value)
    if not isinstance(value, str):
        return False
    if kind == "exactly":
        return bool(value == arg)
    if kind == "prefix":
        if isinstance(arg, dict):
            return _fold(value[: len(arg["equals-ignore-case"])]) == _fold(arg["equals-ignore-case"])
        return value.startswith(arg)
    if kind == "suffix":
        if isinstance(arg, dict):
            wanted = arg["equals-ignore-case"]
            return len(value) >= len(wanted) and _fold(value[len(value) - len(wanted) :]) == _fold(wanted)
        return value.endswith(arg)
    if kind == "equals-ignore-case":
        return _fold(value) == _fold(arg)
    if kind == "wildcard":
        return _wildcard_regex(arg).fullmatch(value) is not None
    if kind == "cidr":
        address = _ip(value)
        network = ipaddress.ip_network(arg, strict=False)
        return address is not None and address.version == network.version and address in network
    raise ValueError(f"reference evaluator does not know {kind!r}")


# --- patterns --------------------------------------------------------------------------------------------------


def _is_or(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) >= 2
        and all(isinstance(branch, dict) for branch in value)
        and not any(key in RESERVED_IN_OR for branch in value for key in branch)
    )


def sub_rules(pattern: Mapping[str, Any], prefix: str = "") -> list[dict[str, list[Any]]]:
    """The pattern as a list of ORed sub-rules, each mapping a dotted path to its list of alternatives."""
    per_field: list[list[dict[str, list[Any]]]] = []
    for key, value in pattern.items():
        if key == "$or" and _is_or(value):
            per_field.append([rule for branch in value for rule in sub_rules(branch, prefix)])
        else:
            path = f"{prefix}.{key}" if prefix else key
            per_field.append(sub_rules(value, path) if isinstance(value, dict) else [{path: value}])
    combined: list[dict[str, list[Any]]] = []
    for choice in itertools.product(*per_field):
        merged: dict[str, list[Any]] = {}
        for part in choice:
            merged.update(part)
        combined.append(merged)
    return combined


def _sub_rule_matches(rule: Mapping[str, list[Any]], event_leaves: list[Leaf]) -> bool:
    by_path: dict[str, list[Leaf]] = {}
    for leaf in event_leaves:
        by_path.setdefault(leaf[0], []).append(leaf)
    options: list[list[Trail | None]] = []  # per field: trails of leaves it could use, None = "absent"
    for path, alternatives in rule.items():
        field: list[Trail | None] = [
            trail
            for _, value, trail in by_path.get(path, [])
            if any(value_matches(alt, value) for alt in alternatives if alt != {"exists": False})
        ]
        if {"exists": False} in alternatives:
            field.append(None)
        options.append(field)
    paths = list(rule)
    for choice in itertools.product(*options):
        chosen = [trail for trail in choice if trail is not None]
        if not all(consistent(a, b) for a, b in itertools.combinations(chosen, 2)):
            continue
        context: Trail = tuple({pair for trail in chosen for pair in trail})
        absent_ok = all(
            not any(consistent(context, leaf[2]) for leaf in by_path.get(path, []))
            for path, trail in zip(paths, choice, strict=True)
            if trail is None
        )
        if absent_ok:
            return True
    return False


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether the (valid, parsed) pattern matches the parsed event."""
    event_leaves = leaves(event)
    return any(_sub_rule_matches(rule, event_leaves) for rule in sub_rules(pattern))


def matching_names(rules: Mapping[str, Sequence[Mapping[str, Any]]], event: Mapping[str, Any]) -> list[str]:
    """Sorted names of the rules (each a list of patterns added under that name, ORed) that match the event."""
    return sorted(name for name, pats in rules.items() if any(matches(p, event) for p in pats))
