"""Next fire times of AWS cron expressions, in UTC or an IANA time zone (pure, no I/O).

`Cron` holds the parsed fields (router.schedules.expressions builds it). Candidate wall-clock times come from
cronsim (a well-kept evaluator of Debian cron's dialect: lists, ranges, steps, `L`, `LW`, `nL`, `#`), run on *naive*
local times, so its own DST adjustments never apply. What AWS's dialect adds is done here:

- day-of-week is numbered 1-7 from Sunday (cronsim: 0-6), and `L` alone means Saturday, the last day of the week;
- `?` (translated to cronsim's `*`, so the other day field alone decides);
- `nW`, the weekday nearest day n of the same month (cronsim only has `LW`): cronsim proposes days n-2..n+2 and
  the weekday rule picks the one;
- the year field (1970-2199): a candidate in a year that is not selected jumps to the next selected year.

Time zones (EventBridge Scheduler's documented behaviour): a wall-clock time that does not exist (skipped by a
spring-forward change) does not fire; a wall-clock time that occurs twice (fall back) fires once, at its first
occurrence. Rules always evaluate in UTC.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from cronsim import CronSim, CronSimError

__all__ = ["MAX_YEAR", "MIN_YEAR", "Cron", "DayOfMonth", "DayOfWeek", "wall_clock_instant"]

MIN_YEAR = 1970
MAX_YEAR = 2199

_MAX_STEPS = 20_000
"""Bound on candidate re-starts per look-up (W days, DST gaps and folds re-start cronsim); never reached by a valid
expression, it keeps one look-up's CPU bounded whatever the input."""


@dataclass(frozen=True, slots=True)
class DayOfMonth:
    any_day: bool = False
    """`?`"""
    days: frozenset[int] = field(default_factory=frozenset)
    last: bool = False
    """`L`"""
    last_weekday: bool = False
    """`LW`"""
    nearest_weekday: int | None = None
    """`nW`"""


@dataclass(frozen=True, slots=True)
class DayOfWeek:
    """Days are AWS's numbers: 1 = Sunday ... 7 = Saturday."""

    any_day: bool = False
    days: frozenset[int] = field(default_factory=frozenset)
    last_of: int | None = None
    """`nL`: the last such day of the month (`L` alone is Saturday, `days={7}`)."""
    nth: tuple[int, int] | None = None
    """`d#k`: the k-th such day of the month."""


@dataclass(frozen=True, slots=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: DayOfMonth
    months: frozenset[int]
    day_of_week: DayOfWeek
    years: frozenset[int]

    @property
    def _cronsim(self) -> str:
        return " ".join(
            (_join(self.minutes), _join(self.hours), _dom_text(self.day_of_month), _join(self.months), _dow_text(self))
        )

    def next_after(self, after: datetime, zone: tzinfo = UTC) -> datetime | None:
        """The first fire time strictly after `after` (aware), as an aware UTC datetime; None if there is none."""
        expression = self._cronsim
        cursor = after.astimezone(zone).replace(tzinfo=None, microsecond=0)
        for _ in range(_MAX_STEPS):
            try:
                candidate = next(CronSim(expression, cursor))
            except (StopIteration, CronSimError):
                candidate = None
            if candidate is None or candidate.year > MAX_YEAR:
                return None  # cronsim found nothing within 50 years: the days never line up
            if candidate.year not in self.years:
                later = [year for year in self.years if year > candidate.year]
                if not later:
                    return None
                cursor = datetime(min(later), 1, 1) - timedelta(seconds=1)
                continue
            wanted = self.day_of_month.nearest_weekday
            if wanted is not None and candidate.day != nearest_weekday(candidate.year, candidate.month, wanted):
                cursor = candidate.replace(hour=23, minute=59, second=59)
                continue
            instant = wall_clock_instant(candidate, zone)
            if instant is None or instant <= after:
                cursor = candidate
                continue
            return instant
        return None


def wall_clock_instant(local: datetime, zone: tzinfo) -> datetime | None:
    """The UTC instant of a naive wall-clock time in `zone`: its first occurrence; None if it does not exist."""
    aware = local.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        return None
    return instant


def nearest_weekday(year: int, month: int, day: int) -> int | None:
    """`dayW`: the weekday nearest `day` without leaving the month; None if the month has no such day."""
    length = calendar.monthrange(year, month)[1]
    if day > length:
        return None
    weekday = date(year, month, day).weekday()  # Monday 0 .. Sunday 6
    if weekday == 5:  # Saturday: Friday before, or Monday after when the 1st
        return day + 2 if day == 1 else day - 1
    if weekday == 6:  # Sunday: Monday after, or Friday before when the last day
        return day - 2 if day == length else day + 1
    return day


def _join(values: frozenset[int]) -> str:
    return ",".join(str(value) for value in sorted(values))


def _dom_text(dom: DayOfMonth) -> str:
    if dom.any_day:
        return "*"
    if dom.last:
        return "L"
    if dom.last_weekday:
        return "LW"
    if dom.nearest_weekday is not None:
        day = dom.nearest_weekday
        return f"{max(1, day - 2)}-{min(31, day + 2)}"
    return _join(dom.days)


def _dow_text(cron: Cron) -> str:
    dow = cron.day_of_week
    if dow.any_day:
        return "*"
    if dow.last_of is not None:
        return f"{dow.last_of - 1}L"
    if dow.nth is not None:
        return f"{dow.nth[0] - 1}#{dow.nth[1]}"
    return ",".join(str(day - 1) for day in sorted(dow.days))
