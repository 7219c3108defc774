"""When a Scheduler schedule's ticks fall (pure): rate anchors, StartDate and EndDate, at() in a DST gap and fold,
and the flexible window's delay bounds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from router.schedules import parse_scheduler_expression
from router.schedules.scheduler.firing import first_tick, flex_delay_ms, invocation_id, next_tick


def ms(year: int, month: int, day: int, hour: int, minute: int) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def record(expression: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ScheduleExpression": expression,
        "ScheduleExpressionTimezone": "UTC",
        "LastModificationDate": ms(2030, 1, 1, 12, 0) / 1000,
        "StartDate": None,
        "EndDate": None,
        "FlexibleTimeWindow": {"Mode": "OFF"},
    }
    base.update(extra)
    return base


NOW = ms(2030, 1, 1, 12, 0)


def test_rate_without_start_date_is_immediate_then_periodic() -> None:
    schedule = record("rate(10 minutes)")
    assert first_tick(schedule, NOW) == NOW
    expression = parse_scheduler_expression("rate(10 minutes)")
    assert next_tick(schedule, expression, NOW) == NOW + 600_000
    assert next_tick(schedule, expression, NOW + 600_001) == NOW + 1_200_000


def test_rate_counts_from_the_start_date() -> None:
    start = ms(2030, 1, 2, 0, 0)
    schedule = record("rate(1 hour)", StartDate=start / 1000)
    assert first_tick(schedule, NOW) == start
    assert next_tick(schedule, parse_scheduler_expression("rate(1 hour)"), start) == start + 3_600_000


def test_cron_waits_for_the_start_date_and_stops_before_the_end_date() -> None:
    schedule = record("cron(0 9 * * ? *)", StartDate=ms(2030, 1, 3, 9, 0) / 1000, EndDate=ms(2030, 1, 5, 9, 0) / 1000)
    expression = parse_scheduler_expression("cron(0 9 * * ? *)")
    assert first_tick(schedule, NOW) == ms(2030, 1, 3, 9, 0)  # on the start date itself
    assert next_tick(schedule, expression, ms(2030, 1, 3, 9, 0)) == ms(2030, 1, 4, 9, 0)
    assert next_tick(schedule, expression, ms(2030, 1, 4, 9, 0)) is None  # 9:00 on the 5th is not before EndDate


def test_cron_in_a_time_zone() -> None:
    schedule = record("cron(0 9 * * ? *)", ScheduleExpressionTimezone="Asia/Tokyo")
    assert first_tick(schedule, NOW) == ms(2030, 1, 2, 0, 0)  # 09:00 JST


@pytest.mark.parametrize(
    ("expression", "zone", "expected"),
    [
        ("at(2030-01-01T13:00:00)", "UTC", ms(2030, 1, 1, 13, 0)),
        ("at(2030-01-01T13:00:00)", "Europe/Paris", ms(2030, 1, 1, 12, 0)),
        # in the spring-forward gap: read with the offset before the change (02:30 EST = 03:30 EDT)
        ("at(2030-03-10T02:30:00)", "America/New_York", ms(2030, 3, 10, 7, 30)),
        # in the fall-back fold: the first occurrence (01:30 EDT)
        ("at(2030-11-03T01:30:00)", "America/New_York", ms(2030, 11, 3, 5, 30)),
    ],
)
def test_at_fires_once_at_its_wall_clock_time(expression: str, zone: str, expected: int) -> None:
    schedule = record(expression, ScheduleExpressionTimezone=zone)
    assert first_tick(schedule, NOW) == expected
    assert next_tick(schedule, parse_scheduler_expression(expression), expected) is None


def test_at_in_the_past_does_not_fire_and_ignores_start_and_end() -> None:
    assert first_tick(record("at(2029-12-31T23:59:00)"), NOW) is None
    bounded = record("at(2030-06-01T00:00:00)", StartDate=NOW / 1000, EndDate=(NOW + 1000) / 1000)
    assert first_tick(bounded, NOW) == ms(2030, 6, 1, 0, 0)


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.5, 0.999999, 0.9999999999])
def test_flexible_delay_stays_in_the_window(draw: float) -> None:
    schedule = record("rate(1 hour)", FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15})
    delay = flex_delay_ms(schedule, lambda: draw)
    assert 0 <= delay < 15 * 60_000
    assert delay == min(int(draw * 900_000), 899_999)


def test_no_delay_when_the_window_is_off() -> None:
    assert flex_delay_ms(record("rate(1 hour)"), lambda: 0.9) == 0


def test_invocation_ids_are_stable_per_tick_and_look_like_uuids() -> None:
    arn = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/s"
    first = invocation_id(arn, NOW, 1.0)
    assert first == invocation_id(arn, NOW, 1.0)
    assert first != invocation_id(arn, NOW + 60_000, 1.0)
    assert first != invocation_id(arn, NOW, 2.0)
    assert len(first) == 36
    assert first[14] == "4"
