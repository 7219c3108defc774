"""The errors the pattern package raises.

`InvalidEventPattern` mirrors EventBridge's `InvalidEventPatternException`: its `message` is exactly the first line
AWS returns ("Event pattern is not valid. Reason: ..."), and `location` holds the Jackson-style position line AWS
appends when the pattern was given as JSON text (None otherwise). `InvalidEvent` is raised for an event that cannot
be matched at all (not JSON, not a JSON object, nested too deeply); the router turns it into an AWS error.
"""

from __future__ import annotations

PATTERN_ERROR_PREFIX = "Event pattern is not valid. Reason: "


class InvalidEventPattern(ValueError):
    """A pattern EventBridge would reject; `message` is AWS's text (first line only)."""

    def __init__(self, reason: str, location: str | None = None) -> None:
        self.reason = reason
        self.message = PATTERN_ERROR_PREFIX + reason
        self.location = location
        super().__init__(self.message)


class InvalidEvent(ValueError):
    """An event that cannot be matched: invalid JSON, not a JSON object, or nested too deeply."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class _PatternError(Exception):
    """Raised inside the compiler with the bare reason; converted to `InvalidEventPattern` at the API boundary.

    `suffixes` is how many times AWS appends the position line: 1 for most errors, 0 for the ones event-ruler raises
    after parsing (CIDR and wildcard-complexity checks), 2 for a bad element of an anything-but list (Jackson wraps
    the element's error once more)."""

    def __init__(self, reason: str, offset: int | None = None, *, suffixes: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.suffixes = suffixes
