"""Schedule expressions: AWS's `rate(...)`, `cron(...)` and `at(...)` grammars, parsed and validated (pure, no I/O).

Two dialects share the grammar:

- **Rules** (EventBridge PutRule): `rate(value unit)` and `cron(fields)`. The unit is singular for a value of 1 and
  plural otherwise (`rate(1 minute)`, `rate(5 minutes)`); `rate(1 minutes)` and `rate(10 minute)` are refused.
- **Scheduler** (EventBridge Scheduler): also `at(yyyy-mm-ddThh:mm:ss)`, and either unit form for any value (AWS
  answers `rate(2 minute)` with a schedule, as recorded in LocalStack's AWS-validated snapshots).

Both refuse stray spaces (`rate( 10 minutes )`, a leading space), other units (`seconds`, `years`), upper-case
units, zero, negative or non-numeric values, and leading zeros. `cron(min hour day-of-month month day-of-week year)`
follows AWS's field table:

| field | values | wildcards |
|---|---|---|
| minutes | 0-59 | `, - * /` |
| hours | 0-23 | `, - * /` |
| day-of-month | 1-31 | `, - * ? / L W` |
| month | 1-12 or JAN-DEC | `, - * /` |
| day-of-week | 1-7 or SUN-SAT (1 = Sunday) | `, - * ? L #` |
| year | 1970-2199 | `, - * /` |

Exactly one of day-of-month and day-of-week is `?`. `L`, `LW`, `nW` (day-of-month) and `L`, `nL`, `n#k`
(day-of-week) stand alone in their field; a range runs upwards (`MON-FRI`, not `FRI-MON`); a step is 1 or more and
at most the field's number of values. Names are case-insensitive. Fields are separated by one space. Where AWS's
documentation is silent these choices are ours; docs/schedules.md lists them.

`parse_rule_expression` and `parse_scheduler_expression` return a `Rate`, a `Cron` (router.schedules.cron) or an
`At`, or raise `InvalidScheduleExpression` with the reason (the API answers AWS's own message instead).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from router.schedules.cron import MAX_YEAR, MIN_YEAR, Cron, DayOfMonth, DayOfWeek

__all__ = [
    "At",
    "InvalidScheduleExpression",
    "Rate",
    "ScheduleExpression",
    "parse_rule_expression",
    "parse_scheduler_expression",
]

MAX_EXPRESSION_CHARS = 256
"""The model's limit for ScheduleExpression in both services."""


class InvalidScheduleExpression(ValueError):
    """The text is no valid schedule expression; `args[0]` says why (for logs and tests, never the wire)."""


_UNIT_MS = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000}


@dataclass(frozen=True, slots=True)
class Rate:
    """`rate(value unit)`: a fixed period, counted in absolute time (a day is 24 hours, also across DST)."""

    value: int
    unit: str
    """`minute`, `hour` or `day`."""

    @property
    def period_ms(self) -> int:
        return self.value * _UNIT_MS[self.unit]

    def next_after(self, after_ms: int, anchor_ms: int) -> int:
        """The first tick `anchor + k * period` (k >= 0) strictly after `after_ms`."""
        if after_ms < anchor_ms:
            return anchor_ms
        return anchor_ms + ((after_ms - anchor_ms) // self.period_ms + 1) * self.period_ms


@dataclass(frozen=True, slots=True)
class At:
    """`at(yyyy-mm-ddThh:mm:ss)`: one wall-clock moment in the schedule's time zone (Scheduler only)."""

    local: datetime
    """Naive: the wall-clock time as written."""


ScheduleExpression = Rate | Cron | At

_RATE = re.compile(r"rate\(([1-9][0-9]{0,15}) (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\(([^ ()]+(?: [^ ()]+){5})\)")
_AT = re.compile(r"at\(([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\)")

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def parse_rule_expression(text: str) -> Rate | Cron:
    """An EventBridge rule's ScheduleExpression (`rate` with AWS's singular/plural rule, or `cron`)."""
    found = _parse(text, strict_units=True)
    if isinstance(found, At):
        raise InvalidScheduleExpression("at() expressions are only for EventBridge Scheduler")
    return found


def parse_scheduler_expression(text: str) -> ScheduleExpression:
    """An EventBridge Scheduler ScheduleExpression: `at`, `rate` (either unit form) or `cron`."""
    return _parse(text, strict_units=False)


def _parse(text: str, *, strict_units: bool) -> ScheduleExpression:
    if not isinstance(text, str) or not text:
        raise InvalidScheduleExpression("empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise InvalidScheduleExpression(f"longer than {MAX_EXPRESSION_CHARS} characters")
    if text.startswith("rate("):
        return _rate(text, strict_units)
    if text.startswith("cron("):
        return _cron(text)
    if text.startswith("at("):
        return _at(text)
    raise InvalidScheduleExpression("not rate(...), cron(...) or at(...)")


def _rate(text: str, strict_units: bool) -> Rate:
    match = _RATE.fullmatch(text)
    if match is None:
        raise InvalidScheduleExpression("rate needs a positive integer and minute(s), hour(s) or day(s)")
    value, unit = int(match[1]), match[2]
    plural = unit.endswith("s")
    if strict_units and plural != (value != 1):
        raise InvalidScheduleExpression("the unit is singular for 1 and plural otherwise")
    return Rate(value, unit.removesuffix("s"))


def _at(text: str) -> At:
    match = _AT.fullmatch(text)
    if match is None:
        raise InvalidScheduleExpression("at needs yyyy-mm-ddThh:mm:ss")
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidScheduleExpression(f"the year must be {MIN_YEAR}-{MAX_YEAR}")
    try:
        return At(datetime(year, month, day, hour, minute, second))
    except ValueError as err:
        raise InvalidScheduleExpression(f"no such date or time: {err}") from err


# -- cron -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    steps: bool = True


_MINUTE = _Field("minutes", 0, 59)
_HOUR = _Field("hours", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTHS)
_DOW = _Field("day-of-week", 1, 7, _DAYS, steps=False)
_YEAR = _Field("year", MIN_YEAR, MAX_YEAR)


def _cron(text: str) -> Cron:
    match = _CRON.fullmatch(text)
    if match is None:
        raise InvalidScheduleExpression("cron needs six fields separated by single spaces")
    minute, hour, dom_text, month, dow_text, year = match[1].upper().split(" ")
    if (dom_text == "?") == (dow_text == "?"):
        raise InvalidScheduleExpression("exactly one of day-of-month and day-of-week must be ?")
    return Cron(
        minutes=_values(_MINUTE, minute),
        hours=_values(_HOUR, hour),
        day_of_month=_day_of_month(dom_text),
        months=_values(_MONTH, month),
        day_of_week=_day_of_week(dow_text),
        years=_values(_YEAR, year),
    )


def _number(field: _Field, text: str) -> int:
    if field.names and text in field.names:
        return field.names.index(text) + field.low
    if not text.isdigit() or not text.isascii() or len(text) > 4:
        raise InvalidScheduleExpression(f"{field.name}: {text!r} is not a value")
    value = int(text)
    if not field.low <= value <= field.high:
        raise InvalidScheduleExpression(f"{field.name}: {value} is outside {field.low}-{field.high}")
    return value


def _values(field: _Field, text: str) -> frozenset[int]:
    """The set of values a plain field (no `?`, `L`, `W`, `#`) selects."""
    if text == "*":
        return frozenset(range(field.low, field.high + 1))
    selected: set[int] = set()
    for item in text.split(","):
        selected |= _item(field, item)
    return frozenset(selected)


def _item(field: _Field, item: str) -> set[int]:
    if not item:
        raise InvalidScheduleExpression(f"{field.name}: empty list item")
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not field.steps:
            raise InvalidScheduleExpression(f"{field.name}: / is not allowed")
        if not step_text.isdigit() or not step_text.isascii() or len(step_text) > 4:
            raise InvalidScheduleExpression(f"{field.name}: {step_text!r} is not a step")
        step = int(step_text)
        if not 1 <= step <= field.high - field.low + 1:
            raise InvalidScheduleExpression(f"{field.name}: step {step} is out of range")
    if base == "*":
        if not slash:
            raise InvalidScheduleExpression(f"{field.name}: * cannot be part of a list")
        start, end = field.low, field.high
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = _number(field, first), _number(field, last)
        if end < start:
            raise InvalidScheduleExpression(f"{field.name}: the range {base} runs backwards")
    else:
        start = _number(field, base)
        end = field.high if slash else start
    return set(range(start, end + 1, step))


_NEAREST_WEEKDAY = re.compile(r"([0-9]{1,2})W")


def _day_of_month(text: str) -> DayOfMonth:
    if text == "?":
        return DayOfMonth(any_day=True)
    if text == "L":
        return DayOfMonth(last=True)
    if text == "LW":
        return DayOfMonth(last_weekday=True)
    weekday = _NEAREST_WEEKDAY.fullmatch(text)
    if weekday is not None:
        return DayOfMonth(nearest_weekday=_number(_DOM, weekday[1]))
    if "L" in text or "W" in text:
        raise InvalidScheduleExpression("day-of-month: L and W stand alone (L, LW or nW)")
    return DayOfMonth(days=_values(_DOM, text))


def _day_of_week(text: str) -> DayOfWeek:
    if text == "?":
        return DayOfWeek(any_day=True)
    if text == "L":  # alone, L is the last day of the week: Saturday (as in Quartz, whose dialect AWS follows)
        return DayOfWeek(days=frozenset({7}))
    if "#" in text:
        day, _, nth = text.partition("#")
        if nth not in ("1", "2", "3", "4", "5"):
            raise InvalidScheduleExpression("day-of-week: # needs 1-5 after it, alone in the field")
        return DayOfWeek(nth=(_number(_DOW, day), int(nth)))
    if text.endswith("L") and text != "L":
        return DayOfWeek(last_of=_number(_DOW, text[:-1]))
    if "L" in text:
        raise InvalidScheduleExpression("day-of-week: L stands alone (L or nL)")
    return DayOfWeek(days=_values(_DOW, text))
