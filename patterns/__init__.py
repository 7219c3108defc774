"""EventBridge's event-pattern language, compiled into one automaton per set of rules.

`Machine` holds named rules and answers which of them an event matches (`Machine.snapshot` freezes them into an
immutable `Snapshot` for other threads to match with); `matches` answers for one pattern
(TestEventPattern); `validate` raises `InvalidEventPattern` with AWS's exact message. See docs/patterns.md.
"""

from patterns.errors import InvalidEvent, InvalidEventPattern
from patterns.machine import MAX_EVENT_DEPTH, Machine, Snapshot, matches, validate
from patterns.parser import MAX_FIELDS_PER_RULE, MAX_PATTERN_LENGTH, MAX_STATES_PER_RULE, MAX_SUB_RULES
from patterns.wildcard import MAX_COMPLEXITY as MAX_WILDCARD_COMPLEXITY

__all__ = [
    "MAX_EVENT_DEPTH",
    "MAX_FIELDS_PER_RULE",
    "MAX_PATTERN_LENGTH",
    "MAX_STATES_PER_RULE",
    "MAX_SUB_RULES",
    "MAX_WILDCARD_COMPLEXITY",
    "InvalidEvent",
    "InvalidEventPattern",
    "Machine",
    "Snapshot",
    "matches",
    "validate",
]
