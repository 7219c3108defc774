"""Unit tests of the retry policy: backoff bounds, the retry-or-give-up decision, Retry-After, status classes."""

from __future__ import annotations

import pytest

from router.delivery.retry import (
    CONDITION_MAX_AGE,
    CONDITION_MAX_ATTEMPTS,
    Backoff,
    Decision,
    Failure,
    RetryPolicy,
    decide,
    failure_for_status,
    parse_retry_after,
)

RETRYABLE = Failure("SERVER_ERROR", "HTTP 500", True)


def test_backoff_doubles_with_equal_jitter_and_stops_at_the_cap() -> None:
    low, high = Backoff(rand=lambda: 0.0), Backoff(rand=lambda: 0.999999)
    assert [low.delay_s(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert high.delay_s(3) == pytest.approx(4.0, rel=1e-5)
    assert low.delay_s(30) == 300.0  # half of the 600 s cap
    assert high.delay_s(185) == pytest.approx(600.0, rel=1e-5)


def test_default_policy_spans_about_a_day() -> None:
    mean = Backoff(rand=lambda: 0.5)
    total_h = sum(mean.delay_s(n) for n in range(1, 186)) / 3600
    assert 20 < total_h < 24


def test_policy_defaults_and_target_values() -> None:
    assert RetryPolicy.of({}) == RetryPolicy(185, 86_400)
    assert RetryPolicy.of({"RetryPolicy": {"MaximumRetryAttempts": 0}}) == RetryPolicy(0, 86_400)
    assert RetryPolicy.of({"RetryPolicy": {"MaximumEventAgeInSeconds": 60}}) == RetryPolicy(185, 60)


def _decide(failure: Failure, attempts: int, *, now_ms: int = 10_000, policy: RetryPolicy | None = None) -> Decision:
    return decide(
        failure,
        attempts,
        ingest_ms=0,
        now_ms=now_ms,
        policy=policy or RetryPolicy(),
        backoff=Backoff(rand=lambda: 0.0),
    )


def test_retryable_failure_is_scheduled_after_the_backoff() -> None:
    assert _decide(RETRYABLE, 1) == Decision(10_500)
    assert _decide(RETRYABLE, 3) == Decision(12_000)


def test_not_retryable_failure_gives_up_without_a_condition() -> None:
    assert _decide(Failure("CLIENT_ERROR", "HTTP 400", False), 1) == Decision(None, None)


def test_retry_attempts_are_exhausted_after_max_retries() -> None:
    policy = RetryPolicy(max_retry_attempts=2)
    assert _decide(RETRYABLE, 2, policy=policy).due_ms is not None
    assert _decide(RETRYABLE, 3, policy=policy) == Decision(None, CONDITION_MAX_ATTEMPTS)
    assert _decide(RETRYABLE, 1, policy=RetryPolicy(max_retry_attempts=0)) == Decision(None, CONDITION_MAX_ATTEMPTS)


def test_a_retry_due_after_the_maximum_age_gives_up_now() -> None:
    policy = RetryPolicy(max_event_age_s=60)
    assert _decide(RETRYABLE, 1, now_ms=59_000, policy=policy) == Decision(59_500)
    assert _decide(RETRYABLE, 1, now_ms=59_600, policy=policy) == Decision(None, CONDITION_MAX_AGE)


def test_retry_after_wins_when_longer_and_a_negative_one_stops() -> None:
    assert _decide(Failure("THROTTLING", "HTTP 429", True, 30.0), 1) == Decision(40_000)
    assert _decide(Failure("THROTTLING", "HTTP 429", True, 0.1), 1) == Decision(10_500)
    assert _decide(Failure("THROTTLING", "HTTP 429", True, -1.0), 1) == Decision(None, None)


def test_parse_retry_after() -> None:
    assert parse_retry_after(None, 0.0) is None
    assert parse_retry_after("120", 0.0) == 120.0
    assert parse_retry_after("-1", 0.0) == -1.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("soon", 0.0) is None


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (429, "THROTTLING", True),
        (500, "SERVER_ERROR", True),
        (503, "SERVER_ERROR", True),
        (400, "CLIENT_ERROR", False),
        (401, "NO_PERMISSIONS", False),
        (404, "NO_RESOURCE", False),
        (422, "CLIENT_ERROR", False),
    ],
)
def test_status_classes(status: int, code: str, retryable: bool) -> None:
    failure = failure_for_status(status, "Reason", None, 0.0)
    assert failure is not None
    assert (failure.code, failure.retryable, failure.message) == (code, retryable, f"HTTP {status}: Reason")


def test_success_statuses() -> None:
    assert failure_for_status(200, "OK", None, 0.0) is None
    assert failure_for_status(204, "", None, 0.0) is None
    assert failure_for_status(302, "Found", None, 0.0) is None
