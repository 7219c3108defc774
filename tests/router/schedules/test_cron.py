"""Next fire times against a table of known answers (worked out from the calendar, not from the code under test):
month ends, leap years, `L`, `LW`, `nW`, `nL`, `#`, the year field, and time zones across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from router.schedules import Cron, parse_scheduler_expression, wall_clock_instant


def _fires(text: str, after: datetime, count: int, zone: str = "UTC") -> list[str]:
    parsed = parse_scheduler_expression(text)
    assert isinstance(parsed, Cron)
    tz = ZoneInfo(zone)
    out: list[str] = []
    moment: datetime | None = after
    for _ in range(count):
        assert moment is not None
        moment = parsed.next_after(moment, tz)
        if moment is None:
            break
        assert moment.tzinfo is not None
        out.append(moment.astimezone(tz).isoformat())
    return out


U = UTC


def D(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        # every 15 minutes, strictly after the given instant
        ("cron(0/15 * * * ? *)", datetime(2024, 1, 1, 0, 0, tzinfo=U), ["00:15", "00:30", "00:45", "01:00"]),
        ("cron(0/15 * * * ? *)", datetime(2024, 1, 1, 0, 7, 30, tzinfo=U), ["00:15", "00:30", "00:45", "01:00"]),
        ("cron(5,35 14 * * ? *)", datetime(2024, 1, 1, 14, 5, tzinfo=U), ["14:35", "14:05", "14:35"]),
        ("cron(0/30 20-23 ? * MON-FRI *)", datetime(2024, 1, 5, 23, 30, tzinfo=U), ["20:00", "20:30"]),  # Fri -> Mon
        ("cron(1/10 * * * ? *)", datetime(2024, 1, 1, 0, 0, tzinfo=U), ["00:01", "00:11", "00:21"]),
        ("cron(0-15/1 8-8 ? * 2,3,4,5,6,7 *)", datetime(2024, 1, 1, 8, 14, tzinfo=U), ["08:15", "08:00"]),
    ],
)
def test_within_a_day(text: str, after: datetime, expected: list[str]) -> None:
    assert [fire[11:16] for fire in _fires(text, after, len(expected))] == expected


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        # L: the last day of each month, through a leap February
        (
            "cron(0 0 L * ? *)",
            D(2024, 1, 15),
            ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"],
        ),
        ("cron(0 0 L 2 ? *)", D(2023, 3, 1), ["2024-02-29", "2025-02-28", "2026-02-28", "2027-02-28"]),
        # 29 February only exists in leap years; 2100 is not one
        ("cron(0 12 29 2 ? *)", D(2096, 3, 1), ["2104-02-29", "2108-02-29"]),
        # day 31 skips the short months
        (
            "cron(0 0 31 * ? *)",
            D(2024, 1, 31),
            ["2024-03-31", "2024-05-31", "2024-07-31", "2024-08-31"],
        ),
        # LW: the last weekday (2024-03-31 is a Sunday, 2024-08-31 a Saturday)
        (
            "cron(0 0 LW * ? *)",
            D(2024, 3, 1),
            ["2024-03-29", "2024-04-30", "2024-05-31", "2024-06-28"],
        ),
        # 15W: 2024-06-15 is a Saturday -> Friday 14th; 2024-09-15 a Sunday -> Monday 16th
        (
            "cron(0 0 15W * ? *)",
            D(2024, 6, 1),
            ["2024-06-14", "2024-07-15", "2024-08-15", "2024-09-16"],
        ),
        # 1W: 2024-06-01 is a Saturday -> Monday 3rd (never back into May); 2024-09-01 a Sunday -> Monday 2nd
        (
            "cron(0 0 1W * ? *)",
            D(2024, 5, 2),
            ["2024-06-03", "2024-07-01", "2024-08-01", "2024-09-02"],
        ),
        # 31W: 2024-08-31 is a Saturday -> Friday 30th; 2024-03-31 a Sunday -> Friday 29th (never into April)
        (
            "cron(0 0 31W * ? *)",
            D(2024, 3, 1),
            ["2024-03-29", "2024-05-31", "2024-07-31", "2024-08-30"],
        ),
        # 6L: the last Friday of each month
        ("cron(15 10 ? * 6L *)", D(2024, 1, 1), ["2024-01-26", "2024-02-23", "2024-03-29"]),
        # SAT#3: the third Saturday
        ("cron(0 2 ? * SAT#3 *)", D(2024, 1, 1), ["2024-01-20", "2024-02-17", "2024-03-16"]),
        # 2#5: a fifth Monday exists only in some months (2024: Jan, Apr, Jul, Sep, Dec)
        (
            "cron(0 0 ? * 2#5 *)",
            D(2024, 1, 1),
            ["2024-01-29", "2024-04-29", "2024-07-29", "2024-09-30"],
        ),
        # L alone in day-of-week: every Saturday
        ("cron(0 0 ? * L *)", D(2024, 1, 1), ["2024-01-06", "2024-01-13", "2024-01-20"]),
        # 1 = Sunday in AWS's numbering
        ("cron(0 0 ? * 1 *)", D(2024, 1, 1), ["2024-01-07", "2024-01-14"]),
        ("cron(0 18 ? * MON-FRI *)", datetime(2024, 1, 5, 19, tzinfo=U), ["2024-01-08", "2024-01-09"]),
        # the year field
        ("cron(0 0 1 1 ? 2150)", D(2024, 1, 1), ["2150-01-01"]),
        ("cron(0 0 1 JAN ? 2030/5)", D(2024, 1, 1), ["2030-01-01", "2035-01-01", "2040-01-01"]),
        ("cron(59 23 31 12 ? 2199)", datetime(2199, 12, 31, 23, 58, tzinfo=U), ["2199-12-31"]),
    ],
)
def test_day_rules(text: str, after: datetime, expected: list[str]) -> None:
    assert [g[:10] for g in _fires(text, after, len(expected) + 1)][: len(expected)] == expected


@pytest.mark.parametrize(
    ("text", "after"),
    [
        ("cron(15 10 ? * 6L 2002-2005)", D(2024, 1, 1)),  # only past years
        ("cron(0 0 31 2 ? *)", D(2024, 1, 1)),  # no 31 February
        ("cron(0 0 30 2 ? *)", D(2024, 1, 1)),
        ("cron(59 23 31 12 ? 2199)", datetime(2199, 12, 31, 23, 59, tzinfo=U)),  # the last possible minute passed
    ],
)
def test_never_fires(text: str, after: datetime) -> None:
    assert _fires(text, after, 1) == []


def test_last_fire_of_a_bounded_year_range() -> None:
    fires = _fires("cron(0 0 1 1 ? 2030-2031)", D(2024, 1, 1), 5)
    assert fires == ["2030-01-01T00:00:00+00:00", "2031-01-01T00:00:00+00:00"]


def test_spring_forward_skips_the_missing_time() -> None:
    # 2024-03-10 02:00 EST jumps to 03:00 EDT in New York: 02:30 does not exist that day.
    fires = _fires("cron(30 2 * * ? *)", datetime(2024, 3, 9, 12, tzinfo=U), 3, "America/New_York")
    assert fires == ["2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00", "2024-03-13T02:30:00-04:00"]


def test_spring_forward_keeps_the_times_around_the_gap() -> None:
    fires = _fires("cron(0/30 1-3 * * ? *)", datetime(2024, 3, 10, 5, tzinfo=U), 4, "America/New_York")
    assert fires == [
        "2024-03-10T01:00:00-05:00",
        "2024-03-10T01:30:00-05:00",
        "2024-03-10T03:00:00-04:00",
        "2024-03-10T03:30:00-04:00",
    ]


def test_fall_back_fires_once_at_the_first_occurrence() -> None:
    # 2024-11-03 02:00 EDT falls back to 01:00 EST: 01:00-01:59 happens twice; each minute fires once, in EDT.
    fires = _fires("cron(0/20 1 * * ? *)", datetime(2024, 11, 3, 4, tzinfo=U), 4, "America/New_York")
    assert fires == [
        "2024-11-03T01:00:00-04:00",
        "2024-11-03T01:20:00-04:00",
        "2024-11-03T01:40:00-04:00",
        "2024-11-04T01:00:00-05:00",
    ]


def test_fall_back_from_inside_the_repeated_hour() -> None:
    # Asked from 01:10 EST (the second pass), 01:20 EDT is already past: the next is 01:00 EST the next day.
    after = datetime(2024, 11, 3, 6, 10, tzinfo=U)  # 01:10 EST
    fires = _fires("cron(0/20 1 * * ? *)", after, 1, "America/New_York")
    assert fires == ["2024-11-04T01:00:00-05:00"]


def test_daily_time_keeps_local_time_across_dst() -> None:
    fires = _fires("cron(0 9 * * ? *)", D(2024, 3, 30), 3, "Europe/Berlin")
    assert fires == ["2024-03-30T09:00:00+01:00", "2024-03-31T09:00:00+02:00", "2024-04-01T09:00:00+02:00"]
    utc = [datetime.fromisoformat(f).astimezone(U).hour for f in fires]
    assert utc == [8, 7, 7]


def test_southern_hemisphere_zone() -> None:
    # Sydney: 2024-04-07 03:00 AEDT falls back to 02:00 AEST.
    fires = _fires("cron(30 2 * * ? *)", D(2024, 4, 6), 2, "Australia/Sydney")
    assert fires == ["2024-04-07T02:30:00+11:00", "2024-04-08T02:30:00+10:00"]


def test_wall_clock_instant() -> None:
    ny = ZoneInfo("America/New_York")
    assert wall_clock_instant(datetime(2024, 3, 10, 2, 30), ny) is None
    assert wall_clock_instant(datetime(2024, 11, 3, 1, 30), ny) == datetime(2024, 11, 3, 5, 30, tzinfo=U)
    assert wall_clock_instant(datetime(2024, 7, 1, 12), ny) == datetime(2024, 7, 1, 16, tzinfo=U)


def test_bounded_cpu_for_a_sparse_expression() -> None:
    # A fifth Monday in February happens only in leap years whose 1 February is a Monday.
    fires = _fires("cron(0 0 ? 2 2#5 *)", D(2024, 1, 1), 2)
    assert [f[:10] for f in fires] == ["2044-02-29", "2072-02-29"]
