"""`wildcard`: `*` matches any run of characters; `\\*` and `\\\\` are the only escapes.

A wildcard is parsed into its literal segments (the text between stars). Matching needs no regex and cannot
backtrack: the first segment must be a prefix, the last a suffix, and the middle ones are found left to right with
`str.find`, which is exact for patterns whose only operator is `*`. An index groups a field's wildcards by their
first segment (probed like prefixes), so a value is only tested against wildcards whose head it starts with.

Complexity: event-ruler's `MachineComplexityEvaluator` counts the most wildcard-pattern states one worst-case input
keeps active at once; AWS rejects a rule above a threshold with "Rule is too complex - ...". We explore the same
subset construction over each field's wildcards (the alphabet is the pattern characters plus one "other"
character) and reject above `MAX_COMPLEXITY` = 10 (the per-rule bound event-ruler's README suggests), so that
`*:*:*:*:*:event-bus/*` (12) is rejected while `/Users/*/dir/dir/dir/dir/dir/doc.txt` (8) and `*/dir/*` (4) are
accepted; see docs/patterns.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from patterns.errors import _PatternError

MAX_COMPLEXITY: Final = 10
TOO_COMPLEX: Final = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a "
    "wildcard character"
)
_STAR: Final = None
_EXPLORE_LIMIT: Final = 1024


@dataclass(frozen=True, slots=True)
class Wildcard:
    """Matches a string that fits `segments` joined by stars (one segment means no star: plain equality)."""

    segments: tuple[str, ...]

    def matches(self, text: str) -> bool:
        segments = self.segments
        if len(segments) == 1:
            return text == segments[0]
        head, tail = segments[0], segments[-1]
        if len(text) < len(head) + len(tail) or not text.startswith(head) or not text.endswith(tail):
            return False
        pos, stop = len(head), len(text) - len(tail)
        for segment in segments[1:-1]:
            found = text.find(segment, pos, stop)
            if found < 0:
                return False
            pos = found + len(segment)
        return True


def parse(value: str) -> Wildcard:
    """Parses wildcard text, raising event-ruler's messages (positions are UTF-8 byte offsets after the quote)."""
    data = ('"' + value + '"').encode("utf-8")
    segments: list[bytearray] = [bytearray()]
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x2A:  # '*'
            if i + 1 < len(data) and data[i + 1] == 0x2A:
                raise _PatternError(f"Consecutive wildcard characters at pos {i}")
            segments.append(bytearray())
        elif byte == 0x5C:  # '\\'
            if i + 1 < len(data) and data[i + 1] in (0x2A, 0x5C):
                segments[-1].append(data[i + 1])
                i += 2
                continue
            raise _PatternError(f"Invalid escape character at pos {i}")
        else:
            segments[-1].append(byte)
        i += 1
    texts = [bytes(s).decode("utf-8") for s in segments]
    texts[0] = texts[0][1:]
    texts[-1] = texts[-1][:-1]
    return Wildcard(tuple(texts))


def _tokens(pattern: Wildcard) -> list[str | None]:
    tokens: list[str | None] = []
    for index, segment in enumerate(pattern.segments):
        if index:
            tokens.append(_STAR)
        tokens.extend(segment)
    return tokens


def complexity(patterns: list[Wildcard]) -> int:
    """The most pattern states one input can keep active at once, over all `patterns` of one field."""
    machines = [_tokens(p) for p in patterns if len(p.segments) > 1]
    if not machines:
        return 0
    other = "\x00other"

    def close(states: set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        todo = list(states)
        while todo:
            m, p = todo.pop()
            if p < len(machines[m]) and machines[m][p] is _STAR and (m, p + 1) not in states:
                states.add((m, p + 1))
                todo.append((m, p + 1))
        return frozenset(states)

    start = close({(m, 0) for m in range(len(machines))})
    seen = {start}
    queue = [start]
    worst = 0
    while queue and len(seen) < _EXPLORE_LIMIT:
        current = queue.pop()
        # Count live states that can still lead to a match: positions before the end of their pattern.
        worst = max(worst, sum(1 for m, p in current if p < len(machines[m])))
        if worst > MAX_COMPLEXITY:
            return worst
        # Only characters some active state waits for can move differently from "any other character".
        alphabet = {machines[m][p] for m, p in current if p < len(machines[m])}
        alphabet.discard(_STAR)
        for ch in [*alphabet, other]:
            nxt: set[tuple[int, int]] = set()
            for m, p in current:
                tokens = machines[m]
                if p < len(tokens):
                    if tokens[p] is _STAR:
                        nxt.add((m, p))
                    elif tokens[p] == ch:
                        nxt.add((m, p + 1))
            if not nxt:
                continue
            state = close(nxt)
            if state not in seen:
                seen.add(state)
                queue.append(state)
    return worst


def check_complexity(patterns: list[Wildcard]) -> None:
    """Rejects a field whose wildcards are too complex, with AWS's message."""
    if complexity(patterns) > MAX_COMPLEXITY:
        raise _PatternError(TOO_COMPLEX, suffixes=0)


def _gate_source(pattern: Wildcard) -> str:
    """A regex equivalent to the wildcard, linear-time: each middle segment is found leftmost inside an atomic
    group (the same greedy-free, backtracking-free search as `Wildcard.matches`), the tail is anchored at the end."""
    segments = pattern.segments
    if len(segments) == 1:
        return re.escape(segments[0])
    middles = "".join(f"(?>.*?{re.escape(segment)})" for segment in segments[1:-1])
    return f"{re.escape(segments[0])}{middles}.*{re.escape(segments[-1])}"


class WildcardIndex:
    """A field's wildcards grouped by their literal head; each candidate is then checked segment by segment.

    One compiled regex of all the field's wildcards (`_gate_source`) first tells, in one C call, whether any
    matches at all, which for most values is no.
    """

    __slots__ = ("_by_head_length", "_gate")

    def __init__(self, entries: list[tuple[Wildcard, int]]) -> None:
        self._gate = re.compile("|".join(f"(?:{_gate_source(p)})" for p, _ in entries), re.DOTALL)
        grouped: dict[int, dict[str, list[tuple[Wildcard, int]]]] = {}
        for pattern, target in entries:
            head = pattern.segments[0]
            grouped.setdefault(len(head), {}).setdefault(head, []).append((pattern, target))
        self._by_head_length = sorted(grouped.items())

    def collect(self, text: str, out: list[int]) -> None:
        if self._gate.fullmatch(text) is None:
            return
        size = len(text)
        for length, table in self._by_head_length:
            if length > size:
                break
            candidates = table.get(text[:length])
            if candidates is not None:
                for pattern, target in candidates:
                    if pattern.matches(text):
                        out.append(target)
