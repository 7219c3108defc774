"""Retry policy: which failures are retried, how long to wait, and when to give up (pure, no I/O).

EventBridge retries a failed delivery "for 24 hours and up to 185 times with an exponential back off and jitter"
(`RetryPolicy{MaximumRetryAttempts 0-185, MaximumEventAgeInSeconds 60-86400}`), whichever limit comes first, then
sends the event to the target's dead-letter queue, or drops it. Retried: HTTP 429 and 5xx, timeouts and connection
errors. Not retried: every other 4xx (straight to the DLQ). `Retry-After` (seconds or an HTTP date) is honoured:
the longer of it and the backoff wins, and a negative value stops retrying.

Backoff (AWS does not publish its curve): retry n waits `min(cap, base * 2**(n-1))` scaled by a uniform factor in
[0.5, 1] ("equal jitter"), base 1 s and cap 600 s, so the default policy's 185 retries span about 22 hours, close to
where both defaults meet. `Backoff` takes its random source, so tests can pin it, and small bases for fast tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "CONDITION_MAX_AGE",
    "CONDITION_MAX_ATTEMPTS",
    "Backoff",
    "Decision",
    "Failure",
    "RetryPolicy",
    "decide",
    "failure_for_status",
    "parse_retry_after",
]

DEFAULT_MAX_RETRY_ATTEMPTS = 185
DEFAULT_MAX_EVENT_AGE_S = 86_400
CONDITION_MAX_ATTEMPTS = "MaximumRetryAttempts"
CONDITION_MAX_AGE = "MaximumEventAgeInSeconds"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retry_attempts: int = DEFAULT_MAX_RETRY_ATTEMPTS
    max_event_age_s: int = DEFAULT_MAX_EVENT_AGE_S

    @classmethod
    def of(cls, target: Mapping[str, Any]) -> RetryPolicy:
        """The target's `RetryPolicy`, with AWS's defaults for what it leaves out."""
        given = target.get("RetryPolicy") or {}
        attempts = given.get("MaximumRetryAttempts")
        age = given.get("MaximumEventAgeInSeconds")
        return cls(
            DEFAULT_MAX_RETRY_ATTEMPTS if attempts is None else int(attempts),
            DEFAULT_MAX_EVENT_AGE_S if age is None else int(age),
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one delivery attempt failed. `code` becomes the DLQ's ERROR_CODE, `message` its ERROR_MESSAGE."""

    code: str
    message: str
    retryable: bool
    retry_after_s: float | None = None
    """From a `Retry-After` header; negative means: do not retry."""


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 1.0
    cap_s: float = 600.0
    rand: Callable[[], float] = field(default=random.random)

    def delay_s(self, retry: int) -> float:
        """The wait before retry number `retry` (1 for the first retry)."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(max(retry - 1, 0), 60))
        return ceiling * (0.5 + 0.5 * self.rand())


@dataclass(frozen=True, slots=True)
class Decision:
    """Retry at `due_ms`, or give up (`due_ms` None) with the exhausted condition (None: not retryable)."""

    due_ms: int | None
    condition: str | None = None


def decide(
    failure: Failure, attempts_made: int, *, ingest_ms: int, now_ms: int, policy: RetryPolicy, backoff: Backoff
) -> Decision:
    """After `attempts_made` attempts (this one included) ended in `failure`: retry when, or give up why."""
    if not failure.retryable or (failure.retry_after_s is not None and failure.retry_after_s < 0):
        return Decision(None, None)
    retries_done = attempts_made - 1
    if retries_done >= policy.max_retry_attempts:
        return Decision(None, CONDITION_MAX_ATTEMPTS)
    delay_s = backoff.delay_s(retries_done + 1)
    if failure.retry_after_s is not None:
        delay_s = max(delay_s, failure.retry_after_s)
    due_ms = now_ms + int(delay_s * 1000)
    if due_ms > ingest_ms + policy.max_event_age_s * 1000:
        return Decision(None, CONDITION_MAX_AGE)
    return Decision(due_ms)


def expired(ingest_ms: int, now_ms: int, policy: RetryPolicy) -> bool:
    return now_ms - ingest_ms > policy.max_event_age_s * 1000


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds (may be negative) or an HTTP date; None if unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_s) if when > datetime.fromtimestamp(0, UTC) else None


def failure_for_status(status: int, reason: str, retry_after: str | None, now_s: float) -> Failure | None:
    """None for 1xx-3xx (delivered); otherwise the failure, retryable for 429 and 5xx."""
    if status < 400:
        return None
    message = f"HTTP {status}" + (f": {reason}" if reason else "")
    after = parse_retry_after(retry_after, now_s)
    if status == 429:
        return Failure("THROTTLING", message, True, after)
    if status >= 500:
        return Failure("SERVER_ERROR", message, True, after)
    if status in (401, 403, 407):
        return Failure("NO_PERMISSIONS", message, False)
    if status in (404, 410):
        return Failure("NO_RESOURCE", message, False)
    return Failure("CLIENT_ERROR", message, False)
