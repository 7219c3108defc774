"""The schedule-expression validation table: what AWS accepts and refuses, in both dialects.

The AWS-recorded rows come from LocalStack's AWS-validated tests (events: `test_events_schedule.py`; scheduler:
`test_scheduler.snapshot.json`) and from issues where users showed AWS's answer (localstack#13572, #12156; wing#7115;
aws-cdk#27618); they are copied here as data. Rows marked "ours" follow AWS's documented field table where AWS's
answer is not recorded (docs/schedules.md lists those choices).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from router.schedules import (
    At,
    Cron,
    InvalidScheduleExpression,
    Rate,
    parse_rule_expression,
    parse_scheduler_expression,
)

# AWS accepts these on PutRule (recorded), and so does Scheduler.
AWS_VALID_RULES = [
    "rate(1 minute)",
    "cron(0 2 ? * SAT *)",
    "cron(0 12 * * ? *)",
    "cron(5,35 14 * * ? *)",
    "cron(15 10 ? * 6L 2002-2005)",
    "cron(0 2 ? * SAT#3 *)",
    "cron(* * ? * SAT#3 *)",
    "cron(0/5 5 ? JAN 1-5 2022)",
    "cron(0 10 * * ? *)",
    "cron(15 12 * * ? *)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(0 8 1 * ? *)",
    "cron(0/15 * * * ? *)",
    "cron(0/10 * ? * MON-FRI *)",
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0/30 20-23 ? * MON-FRI *)",
    "cron(0/30 0-2 ? * MON-FRI *)",
    # localstack#13572: accepted by AWS Scheduler
    "cron(0-15/1 8-8 ? * 2,3,4,5,6,7 *)",
    "cron(30-30 13-13 ? * 2,4,6 *)",
    "cron(1-31/30 1-1 ? * 1,7 *)",
]

# Ours: valid by AWS's documented table (no recorded answer).
OUR_VALID = [
    "rate(5 minutes)",
    "rate(1 hour)",
    "rate(12 hours)",
    "rate(1 day)",
    "rate(7 days)",
    "cron(0 0 L * ? *)",
    "cron(0 0 LW * ? *)",
    "cron(0 9 15W * ? *)",
    "cron(0 9 ? * L *)",
    "cron(0 9 ? * FRIL *)",
    "cron(0 9 ? * 3#2 *)",
    "cron(0 9 ? * mon-fri *)",
    "cron(0 9 1 jan,jul ? *)",
    "cron(0 9 1 JAN-MAR/2 ? 2030/5)",
    "cron(0 0 1 1 ? 1970)",
    "cron(59 23 31 12 ? 2199)",
    "cron(*/7 */3 */2 */4 ? *)",
    "cron(0 0 31 2 ? *)",  # never fires, but well-formed
]

# AWS refuses these on PutRule with "Parameter ScheduleExpression is not valid." (recorded).
AWS_INVALID_RULES = [
    "rate(10 seconds)",
    "rate(10 years)",
    "rate(1 minutes)",
    "rate(1 hours)",
    "rate(1 days)",
    "rate(10 minute)",
    "rate(10 hour)",
    "rate(10 day)",
    "rate()",
    "rate(10)",
    "rate(10 minutess)",
    "rate(foo minutes)",
    "rate(0 minutes)",
    "rate(-10 minutes)",
    "rate(10 MINUTES)",
    "rate( 10 minutes )",
    " rate(10 minutes)",
    "cron(0 1 * * * *)",
    "cron(7 20 * * NOT *)",
    "cron(INVALID)",
    "cron(0 dummy ? * MON-FRI *)",
    "cron(71 8 1 * ? *)",
    "cron(7 20 * * 1-7 *)",  # localstack#12156
    "cron(15 12 ? * -1 *)",  # wing#7115
    "cron(0/10 * ? * *)",  # aws-cdk#27618: five fields
    "cron(*/1 * * * *)",
]

# Ours: invalid by AWS's documented table.
OUR_INVALID = [
    "",
    "rate(01 minutes)",
    "rate(10  minutes)",
    "rate(10 minutes) ",
    "cron()",
    "cron(0 12 * * ? * )",
    "cron( 0 12 * * ? *)",
    "cron(0  12 * * ? *)",
    "cron(0 12 * * ? * *)",
    "cron(0 12 ? * ? *)",  # both day fields ?
    "cron(60 12 * * ? *)",
    "cron(0 24 * * ? *)",
    "cron(0 0 0 * ? *)",
    "cron(0 0 32 * ? *)",
    "cron(0 0 1 0 ? *)",
    "cron(0 0 1 13 ? *)",
    "cron(0 0 ? * 0 *)",
    "cron(0 0 ? * 8 *)",
    "cron(0 0 1 * ? 1969)",
    "cron(0 0 1 * ? 2200)",
    "cron(5-1 * * * ? *)",  # backwards range
    "cron(0/0 * * * ? *)",
    "cron(0/61 * * * ? *)",
    "cron(1,,2 * * * ? *)",
    "cron(*,5 * * * ? *)",
    "cron(0 0 L-3 * ? *)",
    "cron(0 0 1,L * ? *)",
    "cron(0 0 32W * ? *)",
    "cron(0 0 ? * 3#6 *)",
    "cron(0 0 ? * 3#1,6#3 *)",
    "cron(0 0 ? * 1/2 *)",  # no / in day-of-week
    "cron(0 0 ? * 2L,3 *)",
    "cron(0 0 ? * FUN *)",
    "cron(0 0 1 FOO ? *)",
    "cron(0 0 W * ? *)",
    "cron(0 0 ? * # *)",
    "cron(+5 0 1 * ? *)",
    "cron(\u0665 0 1 * ? *)",  # a non-ASCII digit (ARABIC-INDIC FIVE)
    "at(2030-01-01T00:00:00)",  # at() is for Scheduler only
    "every(1 minute)",
    "rate(" + "9" * 300 + " minutes)",
]

AWS_INVALID_SCHEDULER = [
    "cron(0 1 * * * *)",
    "cron(7 20 * * NOT *)",
    "cron(INVALID)",
    "cron(0 dummy ? * MON-FRI *)",
    "cron(71 8 1 * ? *)",
    "cron()",
    "rate(10 seconds)",
    "rate(10 years)",
    "rate()",
    "rate(10)",
    "rate(10 minutess)",
    "rate(foo minutes)",
    "rate(-10 minutes)",
    "rate( 10 minutes )",
    " rate(10 minutes)",
    "at(2021-12-31T23:59:59Z)",
    "at(2021-12-31)",
]


@pytest.mark.parametrize("text", AWS_VALID_RULES + OUR_VALID)
def test_valid_rule_expressions(text: str) -> None:
    parsed = parse_rule_expression(text)
    assert isinstance(parsed, Rate | Cron)
    assert isinstance(parse_scheduler_expression(text), Rate | Cron)


@pytest.mark.parametrize("text", AWS_INVALID_RULES + OUR_INVALID)
def test_invalid_rule_expressions(text: str) -> None:
    with pytest.raises(InvalidScheduleExpression):
        parse_rule_expression(text)


@pytest.mark.parametrize("text", AWS_INVALID_SCHEDULER)
def test_invalid_scheduler_expressions(text: str) -> None:
    with pytest.raises(InvalidScheduleExpression):
        parse_scheduler_expression(text)


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("rate(2 minute)", 2, "minute"),  # recorded: AWS Scheduler accepted it (UpdateSchedule snapshot)
        ("rate(1 minutes)", 1, "minute"),
        ("rate(10 minutes)", 10, "minute"),
        ("rate(3 hour)", 3, "hour"),
        ("rate(1 days)", 1, "day"),
    ],
)
def test_scheduler_takes_either_unit_form(text: str, value: int, unit: str) -> None:
    assert parse_scheduler_expression(text) == Rate(value, unit)


@pytest.mark.parametrize(
    ("text", "period_ms"),
    [
        ("rate(1 minute)", 60_000),
        ("rate(5 minutes)", 300_000),
        ("rate(2 hours)", 7_200_000),
        ("rate(1 day)", 86_400_000),
    ],
)
def test_rate_period(text: str, period_ms: int) -> None:
    parsed = parse_rule_expression(text)
    assert isinstance(parsed, Rate)
    assert parsed.period_ms == period_ms


def test_rate_ticks_count_from_the_anchor() -> None:
    rate = Rate(5, "minute")
    anchor = 1_000_000
    assert rate.next_after(anchor - 1, anchor) == anchor
    assert rate.next_after(anchor, anchor) == anchor + 300_000
    assert rate.next_after(anchor + 299_999, anchor) == anchor + 300_000
    assert rate.next_after(anchor + 300_000, anchor) == anchor + 600_000
    assert rate.next_after(anchor + 10 * 300_000 + 1, anchor) == anchor + 11 * 300_000


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("at(2030-01-01T00:00:00)", datetime(2030, 1, 1)),
        ("at(2024-02-29T23:59:59)", datetime(2024, 2, 29, 23, 59, 59)),
        ("at(1970-01-01T00:00:00)", datetime(1970, 1, 1)),
    ],
)
def test_at(text: str, local: datetime) -> None:
    assert parse_scheduler_expression(text) == At(local)


@pytest.mark.parametrize(
    "text",
    [
        "at(2023-02-29T00:00:00)",  # not a leap year
        "at(2030-13-01T00:00:00)",
        "at(2030-01-32T00:00:00)",
        "at(2030-01-01T24:00:00)",
        "at(2030-01-01T00:60:00)",
        "at(2030-01-01T00:00:60)",
        "at(2030-1-01T00:00:00)",
        "at(2030-01-01 00:00:00)",
        "at(2030-01-01T00:00:00.000)",
        "at(1969-12-31T23:59:59)",
        "at(2200-01-01T00:00:00)",
        "at( 2030-01-01T00:00:00)",
    ],
)
def test_invalid_at(text: str) -> None:
    with pytest.raises(InvalidScheduleExpression):
        parse_scheduler_expression(text)


def test_cron_fields_are_read_with_aws_numbering() -> None:
    parsed = parse_rule_expression("cron(0/20 8-10 ? JAN,MAR-APR MON-FRI 2030-2032)")
    assert isinstance(parsed, Cron)
    assert parsed.minutes == {0, 20, 40}
    assert parsed.hours == {8, 9, 10}
    assert parsed.months == {1, 3, 4}
    assert parsed.day_of_week.days == {2, 3, 4, 5, 6}  # 1 = Sunday
    assert parsed.day_of_month.any_day
    assert parsed.years == {2030, 2031, 2032}


def test_cron_specials_are_read() -> None:
    last_friday = parse_rule_expression("cron(15 10 ? * 6L *)")
    assert isinstance(last_friday, Cron)
    assert last_friday.day_of_week.last_of == 6
    nth = parse_rule_expression("cron(0 2 ? * SAT#3 *)")
    assert isinstance(nth, Cron)
    assert nth.day_of_week.nth == (7, 3)
    saturday = parse_rule_expression("cron(0 2 ? * L *)")
    assert isinstance(saturday, Cron)
    assert saturday.day_of_week.days == {7}
    weekday = parse_rule_expression("cron(0 2 15W * ? *)")
    assert isinstance(weekday, Cron)
    assert weekday.day_of_month.nearest_weekday == 15
