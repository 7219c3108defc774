"""Unit tests of the retry policy: backoff bounds, the retry-or-give-up decision, Retry-After, status classes.

Without a server: every backoff stays between half its ceiling and the ceiling, ceilings double up to the cap and
never overflow, and the age and attempt limits are exact at their boundaries. The end-to-end twin is
tests/router/delivery/test_retries.py."""

from __future__ import annotations

import functools
import random

import pytest

from router.delivery.retry import (
    CONDITION_MAX_AGE,
    CONDITION_MAX_ATTEMPTS,
    Backoff,
    Decision,
    Failure,
    RetryPolicy,
    decide,
    expired,
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


# Bounds: every backoff between half its ceiling and the ceiling, exact age and attempt boundaries.
RANDS = [0.0, 1e-9, 0.25, 0.5, 0.75, 0.999999999]


@pytest.mark.parametrize(("base_s", "cap_s"), [(1.0, 600.0), (0.05, 0.2), (3.0, 3.0), (0.001, 86_400.0)])
def test_every_delay_lies_between_half_its_ceiling_and_the_ceiling(base_s: float, cap_s: float) -> None:
    previous_ceiling = 0.0
    for retry in [*range(1, 200), 1_000, 10**6]:
        ceiling = min(cap_s, base_s * 2.0 ** min(retry - 1, 60))
        assert ceiling >= previous_ceiling  # ceilings never shrink
        previous_ceiling = ceiling
        for r in RANDS:
            delay = Backoff(base_s, cap_s, rand=functools.partial(float, r)).delay_s(retry)
            assert ceiling / 2 <= delay <= ceiling, (retry, r, delay)
    assert Backoff(base_s, cap_s, rand=lambda: 0.0).delay_s(10**6) == cap_s / 2  # no overflow far past the cap


def test_the_default_random_source_stays_in_bounds() -> None:
    random.seed(16)
    backoff = Backoff()
    delays = [backoff.delay_s(3) for _ in range(2_000)]
    assert min(delays) >= 2.0
    assert max(delays) <= 4.0
    assert max(delays) - min(delays) > 1.5  # jitter actually spreads the retries


def test_a_retry_number_below_one_waits_like_the_first() -> None:
    backoff = Backoff(rand=lambda: 0.0)
    assert backoff.delay_s(0) == backoff.delay_s(-5) == backoff.delay_s(1) == 0.5


def test_expired_is_strictly_past_the_maximum_age() -> None:
    policy = RetryPolicy(max_event_age_s=60)
    assert not expired(1_000, 61_000, policy)  # exactly 60 s old
    assert expired(1_000, 61_001, policy)


def _at(attempts: int, *, now_ms: int, policy: RetryPolicy, failure: Failure = RETRYABLE) -> Decision:
    return decide(failure, attempts, ingest_ms=0, now_ms=now_ms, policy=policy, backoff=Backoff(rand=lambda: 0.0))


def test_a_retry_due_exactly_at_the_maximum_age_is_still_made() -> None:
    policy = RetryPolicy(max_event_age_s=60)
    assert _at(1, now_ms=59_500, policy=policy) == Decision(60_000)
    assert _at(1, now_ms=59_501, policy=policy) == Decision(None, CONDITION_MAX_AGE)


def test_the_last_allowed_retry_and_the_one_after_it() -> None:
    policy = RetryPolicy(max_retry_attempts=185)
    assert _at(185, now_ms=0, policy=policy).due_ms is not None  # 184 retries made: the 185th is allowed
    assert _at(186, now_ms=0, policy=policy) == Decision(None, CONDITION_MAX_ATTEMPTS)


def test_the_attempt_limit_is_checked_before_the_age() -> None:
    policy = RetryPolicy(max_retry_attempts=0, max_event_age_s=60)
    assert _at(1, now_ms=10**9, policy=policy) == Decision(None, CONDITION_MAX_ATTEMPTS)


def test_retry_after_that_outlives_the_event_gives_up_on_age() -> None:
    policy = RetryPolicy(max_event_age_s=60)
    throttled = Failure("THROTTLING", "HTTP 429", True, retry_after_s=120.0)
    assert _at(1, now_ms=0, policy=policy, failure=throttled) == Decision(None, CONDITION_MAX_AGE)


def test_retry_after_dates_in_the_past_mean_now_and_unreadable_ones_are_ignored() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 2_000_000_000.0) == 0.0
    assert parse_retry_after("  7  ", 0.0) == 7.0
    assert parse_retry_after("", 0.0) is None
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", 0.0) is None  # the epoch itself: not a real date


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (407, "NO_PERMISSIONS", False),
        (410, "NO_RESOURCE", False),
        (499, "CLIENT_ERROR", False),
        (599, "SERVER_ERROR", True),
    ],
)
def test_status_class_edges(status: int, code: str, retryable: bool) -> None:
    failure = failure_for_status(status, "", "5", 0.0)
    assert failure is not None
    assert (failure.code, failure.retryable, failure.message) == (code, retryable, f"HTTP {status}")
    assert failure.retry_after_s == (5.0 if retryable else None)


def test_informational_and_redirect_statuses_are_deliveries() -> None:
    assert failure_for_status(100, "Continue", None, 0.0) is None
    assert failure_for_status(399, "", None, 0.0) is None
