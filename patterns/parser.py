"""Pattern → sub-rules: event-ruler's `JsonRuleCompiler`, read from a token stream.

`compile_pattern` reads the pattern's tokens in document order, exactly as event-ruler does, so the first problem
met (syntax or semantics) is the one reported, with AWS's message; repeated keys overwrite earlier ones ("last one
wins"). The result is a list of sub-rules, one per `$or` branch (a cross product with the enclosing fields), each a
mapping from dotted path to its list of alternative matchers. `$or` is an OR only when its value is an array of at
least two objects none of which uses a reserved word as a field name; otherwise it is an ordinary field name.

Bounds: pattern text of at most `MAX_PATTERN_LENGTH` characters, `MAX_FIELDS_PER_RULE` fields per sub-rule, at most
`MAX_SUB_RULES` sub-rules after `$or` expansion, and the wildcard complexity limit (`wildcard.py`).
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any, Final, Protocol

from patterns import _jsontext as jt
from patterns._fieldindex import Matcher
from patterns.affix import Prefix, Suffix
from patterns.anything_but import AnythingBut
from patterns.cidr import ip_to_range_if_possible, read_cidr
from patterns.equals_ignore_case import EqualsIgnoreCase, fold
from patterns.errors import InvalidEventPattern, _PatternError
from patterns.exact import Exact
from patterns.exists import read_exists
from patterns.numbers import FALSE, NULL, TRUE, Key, comparable, number_key
from patterns.numeric import read_numeric
from patterns.wildcard import Wildcard, check_complexity
from patterns.wildcard import parse as parse_wildcard

MAX_PATTERN_LENGTH: Final = 4096
MAX_FIELDS_PER_RULE: Final = 256
MAX_SUB_RULES: Final = 1000
MAX_STATES_PER_RULE: Final = 10_000
"""Automaton states one rule may need on its own: the distinct leading runs of its sub-rules' ordered fields."""

OR_KEYWORD: Final = "$or"
RESERVED_IN_OR: Final = frozenset(
    {
        *("exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric"),
        *("cidr", "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case", "date-after"),
        *("date-on-or-after", "date-before", "date-on-or-before", "in-date-range", "ip-address-in-range"),
        "ip-address-not-in-range",
    }
)
_LITERALS: Final = {jt.TRUE: TRUE, jt.FALSE: FALSE, jt.NULL: NULL}
_ONE_KEY: Final = "Only one key allowed in match expression"
_TOO_MANY: Final = "Too many elements in numeric expression"

SubRule = dict[str, list[Matcher]]
Predicate = tuple[str, frozenset[Matcher]]
"""One field of a sub-rule: its path and the set of its alternative matchers."""
RuleSequence = tuple[Predicate, ...]
"""A sub-rule as the machine stores it: its predicates in the machine's order (`_predicate_order`)."""


class _Source(Protocol):
    end: int

    def next(self) -> jt.Token: ...

    def location(self, offset: int) -> str | None: ...

    @property
    def string_start(self) -> int:
        """Offset of the opening quote of the last string value lexed."""


class _Tokens:
    """A token source with push-back, so `$or` can look at its whole value before deciding what it is.

    Deciding reads the value once and also decides every `$or` nested inside it (`_or_decisions`), so nested
    `$or`s cost one pass over the pattern, not one pass per level.
    """

    def __init__(self, source: _Source) -> None:
        self.source = source
        self._buffer: deque[jt.Token] = deque()
        self._decided: dict[int, bool] = {}
        """id of a buffered `$or` field-name token -> whether its value is an OR."""

    def next(self) -> jt.Token:
        if self._buffer:
            return self._buffer.popleft()
        return self.source.next()

    def or_follows(self, name_token: jt.Token) -> bool:
        """Whether the value after this `$or` field name (just read) is an OR."""
        decided = self._decided.pop(id(name_token), None)
        if decided is not None:
            return decided
        captured = self._capture_value()
        decisions = _or_decisions(captured)
        for i, token in enumerate(captured[:-1]):
            if token[0] == jt.FIELD_NAME and token[1] == OR_KEYWORD:
                self._decided[id(token)] = decisions.get(i + 1, False)
        return decisions.get(0, False)

    def _capture_value(self) -> list[jt.Token]:
        """Reads one whole value (the tokens after a field name) and pushes it back."""
        captured: list[jt.Token] = []
        depth = 0
        while True:
            token = self.next()
            captured.append(token)
            if token[0] in (jt.START_OBJECT, jt.START_ARRAY):
                depth += 1
            elif token[0] in (jt.END_OBJECT, jt.END_ARRAY):
                depth -= 1
            if depth == 0 or token[0] == jt.EOF:
                break
        self._buffer.extendleft(reversed(captured))
        return captured


def _or_decisions(tokens: list[jt.Token]) -> dict[int, bool]:
    """For the index of each array in `tokens`, event-ruler's test for that array being an OR: at least 2 elements,
    all objects, none using a reserved word as a field name (at any depth reached through objects only).

    One pass for all arrays at once: a field name can only disqualify the innermost array open around it (an outer
    one has that array between them), and an element is direct when the innermost open container is the array.
    """
    decisions: dict[int, bool] = {}
    open_arrays: list[list[int]] = []  # [token index, branches, failed] of each open array, innermost last
    containers: list[int] = []  # kinds of the open containers
    for index, (kind, text) in enumerate(tokens):
        if kind == jt.EOF:
            break
        direct = bool(containers) and containers[-1] == jt.START_ARRAY
        if direct and kind != jt.END_ARRAY:
            if kind == jt.START_OBJECT:
                open_arrays[-1][1] += 1
            else:
                open_arrays[-1][2] = 1  # a scalar or an array element
        if kind in (jt.START_OBJECT, jt.START_ARRAY):
            containers.append(kind)
            if kind == jt.START_ARRAY:
                open_arrays.append([index, 0, 0])
        elif kind in (jt.END_OBJECT, jt.END_ARRAY):
            if containers.pop() == jt.START_ARRAY:
                start, branches, failed = open_arrays.pop()
                decisions[start] = not failed and branches >= 2
        elif kind == jt.FIELD_NAME and text in RESERVED_IN_OR and open_arrays:
            open_arrays[-1][2] = 1
    for start, branches, failed in open_arrays:  # truncated input: decide on what was read
        decisions[start] = not failed and branches >= 2
    return decisions


class _Object:
    """An open pattern object: the sub-rules its fields are written into, and its key path."""

    __slots__ = ("fields_present", "path", "rules")

    def __init__(self, rules: list[SubRule], path: tuple[str, ...]) -> None:
        self.rules = rules
        self.path = path
        self.fields_present = False


class _Or:
    """An open `$or` array: the sub-rules before it (each branch starts from a copy), and the branch being read."""

    __slots__ = ("branch", "current", "path", "rules")

    def __init__(self, rules: list[SubRule], path: tuple[str, ...]) -> None:
        self.rules = rules
        self.path = path
        self.current = [dict(rule) for rule in rules]
        rules.clear()
        self.branch: list[SubRule] = []


class _Compiler:
    def __init__(self, tokens: _Tokens) -> None:
        self.tokens = tokens

    def next(self) -> jt.Token:
        return self.tokens.next()

    def compile(self) -> list[SubRule]:
        """Reads the whole pattern with an explicit stack of open objects and `$or` arrays (no recursion, so the
        nesting depth is bounded only by the pattern's length)."""
        if self.next()[0] != jt.START_OBJECT:
            raise _PatternError("Filter is not an object")
        rules: list[SubRule] = []
        stack: list[_Object | _Or] = [_Object(rules, ())]
        while stack:
            frame = stack[-1]
            if isinstance(frame, _Or):
                if self.next()[0] == jt.END_ARRAY:  # the '{' of each branch was checked by _or_decisions
                    stack.pop()
                    continue
                frame.branch = [dict(rule) for rule in frame.current] or [{}]
                stack.append(_Object(frame.branch, frame.path))
                continue
            token = self.next()
            kind, name = token
            if kind == jt.END_OBJECT:
                if not frame.fields_present:
                    raise _PatternError("Empty objects are not allowed")
                stack.pop()
                if stack:
                    parent = stack[-1]
                    if isinstance(parent, _Or):
                        parent.rules.extend(parent.branch)
                        if len(parent.rules) > MAX_SUB_RULES:
                            raise _PatternError(
                                f"The pattern expands to more than {MAX_SUB_RULES} alternatives through $or"
                            )
                continue
            frame.fields_present = True
            if name == OR_KEYWORD and self.tokens.or_follows(token):
                self.next()  # the '[' (checked by _or_decisions)
                stack.append(_Or(frame.rules, frame.path))
                continue
            kind, _ = self.next()
            if kind == jt.START_OBJECT:
                stack.append(_Object(frame.rules, (*frame.path, name)))
            elif kind == jt.START_ARRAY:
                self.write_rules(frame.rules, ".".join((*frame.path, name)))
            elif kind == jt.STRING:  # Jackson has read only the opening quote: its position is just after it
                raise _PatternError(f'"{name}" must be an object or an array', self.tokens.source.string_start + 1)
            else:
                raise _PatternError(f'"{name}" must be an object or an array')
        return rules

    def write_rules(self, rules: list[SubRule], name: str) -> None:
        values: list[Matcher] = []
        while True:
            kind, text = self.next()
            if kind == jt.END_ARRAY:
                break
            if kind == jt.START_OBJECT:
                values.append(self.match_expression())
            elif kind == jt.STRING:
                values.append(ip_to_range_if_possible(text) or Exact(text))
            elif kind == jt.NUMBER:
                values.append(Exact(number_key(text)))
            elif kind in _LITERALS:
                values.append(Exact(_LITERALS[kind]))
            else:
                raise _PatternError("Match value must be String, number, true, false, or null")
        if not values:
            raise _PatternError("Empty arrays are not allowed")
        if not rules:
            rules.append({})
        for rule in rules:
            rule[name] = values

    def _string_then_close(self, message: str) -> str:
        kind, text = self.next()
        if kind != jt.STRING:
            raise _PatternError(message)
        if self.next()[0] != jt.END_OBJECT:
            raise _PatternError(_ONE_KEY)
        return text

    def match_expression(self) -> Matcher:
        kind, op = self.next()
        if kind != jt.FIELD_NAME:
            raise _PatternError("Match expression name not found")
        if op == "exactly":
            return Exact(self._string_then_close("exact match pattern must be a string"))
        if op in ("prefix", "suffix"):
            return self.affix(op)
        if op == "numeric":
            if self.next()[0] != jt.START_ARRAY:
                raise _PatternError("Value of numeric must be an array.")
            matcher = read_numeric(self.tokens)
            if self.next()[0] != jt.END_OBJECT:
                raise _PatternError(_TOO_MANY)
            return matcher
        if op == "anything-but":
            return self.anything_but()
        if op == "exists":
            exists = read_exists(self.next()[0], jt.TRUE, jt.FALSE)
            if exists is None:
                raise _PatternError("exists match pattern must be either true or false.")
            if self.next()[0] != jt.END_OBJECT:
                raise _PatternError(_ONE_KEY)
            return exists
        if op == "cidr":
            kind, text = self.next()
            if kind != jt.STRING:
                raise _PatternError("prefix match pattern must be a string")
            cidr = read_cidr(text)
            if self.next()[0] != jt.END_OBJECT:
                raise _PatternError(_ONE_KEY)
            return cidr
        if op == "equals-ignore-case":
            return EqualsIgnoreCase(fold(self._string_then_close("equals-ignore-case match pattern must be a string")))
        if op == "wildcard":
            kind, text = self.next()
            if kind != jt.STRING:
                raise _PatternError("wildcard match pattern must be a string")
            pattern = parse_wildcard(text)
            if self.next()[0] != jt.END_OBJECT:
                raise _PatternError(_ONE_KEY)
            return pattern
        raise _PatternError(f"Unrecognized match type {op}")

    def affix(self, op: str) -> Matcher:
        kind, text = self.next()
        ignore_case = False
        if kind == jt.START_OBJECT:
            kind, inner = self.next()
            if kind != jt.FIELD_NAME:
                raise _PatternError(f"{op.capitalize()} expression name not found")
            if inner != "equals-ignore-case":
                raise _PatternError(f"Unsupported {op} pattern: {inner}")
            kind, text = self.next()
            if kind != jt.STRING:
                raise _PatternError("equals-ignore-case match pattern must be a string")
            if self.next()[0] != jt.END_OBJECT:
                raise _PatternError(_ONE_KEY)
            ignore_case = True
        elif kind != jt.STRING:
            raise _PatternError(f"{op} match pattern must be a string")
        if self.next()[0] != jt.END_OBJECT:
            raise _PatternError(_ONE_KEY)
        return Prefix(text, ignore_case) if op == "prefix" else Suffix(text, ignore_case)

    def anything_but(self) -> AnythingBut:
        kind, text = self.next()
        sub: str | None = None
        if kind == jt.START_OBJECT:
            kind, sub = self.next()
            if kind != jt.FIELD_NAME:
                raise _PatternError("Anything-But expression name not found")
            if sub not in ("equals-ignore-case", "prefix", "suffix", "wildcard"):
                raise _PatternError(f"Unsupported anything-but pattern: {sub}")
            kind, text = self.next()
        if kind not in (jt.START_ARRAY, jt.STRING, jt.NUMBER):
            raise _PatternError("Value of anything-but must be an array or single string/number value.")
        if sub is None:
            matcher = self._anything_but_values(kind, text)
        else:
            matcher = self._anything_but_set(sub, kind, text)
        if self.next()[0] != jt.END_OBJECT:
            raise _PatternError(_TOO_MANY)
        if sub is not None and self.next()[0] != jt.END_OBJECT:
            raise _PatternError(_TOO_MANY)
        return matcher

    def _anything_but_values(self, kind: int, text: str) -> AnythingBut:
        if kind != jt.START_ARRAY:
            if kind == jt.STRING:
                return AnythingBut("exact", frozenset([text]))
            return AnythingBut("exact", frozenset([_comparable_operand(text)]))
        values: set[Key] = set()
        has_string = has_number = False
        while True:
            kind, text = self.next()
            if kind == jt.END_ARRAY:
                break
            if kind == jt.STRING:
                values.add(text)
                has_string = True
            elif kind == jt.NUMBER:
                values.add(_comparable_operand(text))
                has_number = True
            else:
                raise _PatternError("Inside anything but list, start|null|boolean is not supported.", suffixes=2)
        if has_string == has_number:
            raise _PatternError(
                "Inside anything but list, either all values are number or string, mixed type is not supported"
            )
        return AnythingBut("exact", frozenset(values))

    def _anything_but_set(self, sub: str, kind: int, text: str) -> AnythingBut:
        texts: list[str] = []
        if kind == jt.START_ARRAY:
            while True:
                kind, text = self.next()
                if kind == jt.END_ARRAY:
                    break
                texts.append(self._anything_but_member(sub, kind, text, suffixes=2))
        else:
            texts.append(self._anything_but_member(sub, kind, text))
        if sub == "wildcard":
            return AnythingBut("wildcard", frozenset(parse_wildcard(t) for t in texts))
        if sub == "equals-ignore-case":
            return AnythingBut("equals-ignore-case", frozenset(fold(t) for t in texts))
        return AnythingBut("prefix" if sub == "prefix" else "suffix", frozenset(texts))

    @staticmethod
    def _anything_but_member(sub: str, kind: int, text: str, suffixes: int = 1) -> str:
        if kind != jt.STRING:
            if sub == "equals-ignore-case":
                raise _PatternError(
                    "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
                    suffixes=suffixes,
                )
            if sub == "wildcard":
                raise _PatternError("wildcard match pattern must be a string", suffixes=suffixes)
            raise _PatternError("prefix/suffix match pattern must be a string", suffixes=suffixes)
        if sub in ("prefix", "suffix") and not text:
            raise _PatternError("Null prefix/suffix not allowed")
        return text


def _comparable_operand(text: str) -> float:
    value = comparable(text)
    if value is None:
        raise _PatternError(f"Cannot compare number : {text}")
    return value


def _check_bounds(rules: list[SubRule]) -> None:
    checked: set[int] = set()
    for rule in rules:
        if len(rule) > MAX_FIELDS_PER_RULE:
            raise _PatternError(f"Size of rule exceeds max value of {MAX_FIELDS_PER_RULE} fields")
        for values in rule.values():
            if id(values) in checked:
                continue
            checked.add(id(values))
            wildcards = [m for m in values if isinstance(m, Wildcard)]
            for m in values:
                if isinstance(m, AnythingBut) and m.kind == "wildcard":
                    wildcards.extend(w for w in m.values if isinstance(w, Wildcard))
            if wildcards:
                check_complexity(wildcards)


def _predicate_order(predicate: Predicate) -> list[str]:
    """Predicates in order of their path's segments (a sub-rule names each path once, so the path decides): all
    paths below one prefix are then consecutive, which the array-consistent walk relies on (`_arrays.py`)."""
    return predicate[0].split(".")


def _sequences(rules: list[SubRule]) -> list[RuleSequence]:
    """Each sub-rule as its ordered tuple of predicates, checked against `MAX_STATES_PER_RULE`."""
    ordered = [
        tuple(sorted(((path, frozenset(values)) for path, values in rule.items()), key=_predicate_order))
        for rule in rules
    ]
    # The states the rule needs alone: the distinct non-empty leading runs of its sequences (a trie of dicts).
    root: dict[Predicate, Any] = {}
    states = 0
    for sequence in ordered:
        node = root
        for predicate in sequence:
            child = node.get(predicate)
            if child is None:
                child = node[predicate] = {}
                states += 1
            node = child
        if states > MAX_STATES_PER_RULE:
            raise _PatternError(
                f"The pattern needs more than {MAX_STATES_PER_RULE} matcher states (fields times $or alternatives)"
            )
    return ordered


def compile_pattern(pattern: str | bytes | dict[str, Any]) -> list[RuleSequence]:
    """Validates a pattern (JSON text or a parsed dict) and returns its sub-rules as ordered predicate sequences,
    or raises InvalidEventPattern."""
    source: _Source
    if isinstance(pattern, bytes | bytearray):
        try:
            pattern = bytes(pattern).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEventPattern("Invalid UTF-8 in event pattern") from exc
    if isinstance(pattern, str):
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise InvalidEventPattern(f"Event pattern is longer than {MAX_PATTERN_LENGTH} characters")
        source = jt.TextTokens(pattern)
    elif isinstance(pattern, dict):
        try:
            size = len(json.dumps(pattern, ensure_ascii=False, default=str))
        except (ValueError, RecursionError):
            raise InvalidEventPattern("Event pattern is nested too deeply") from None
        if size > MAX_PATTERN_LENGTH:
            raise InvalidEventPattern(f"Event pattern is longer than {MAX_PATTERN_LENGTH} characters")
        source = jt.ValueTokens(pattern)
    else:
        raise InvalidEventPattern("Filter is not an object")
    try:
        rules = _Compiler(_Tokens(source)).compile()
        _check_bounds(rules)
        return _sequences(rules)
    except _PatternError as exc:
        offset = exc.offset if exc.offset is not None else source.end
        location = source.location(offset) if exc.suffixes else None
        if location is not None and exc.suffixes == 2:
            location = f"{location}\n at {location}"
        raise InvalidEventPattern(exc.reason, location) from None
