"""Time: schedule expressions, scheduled rules that fire, and the EventBridge Scheduler API (issue 13).

`expressions` parses and validates AWS's `rate(...)`, `cron(...)` and `at(...)` (pure); `cron` computes next fire
times in UTC or an IANA time zone. See docs/schedules.md.
"""

from router.schedules.cron import Cron, wall_clock_instant
from router.schedules.expressions import (
    At,
    InvalidScheduleExpression,
    Rate,
    ScheduleExpression,
    parse_rule_expression,
    parse_scheduler_expression,
)

__all__ = [
    "At",
    "Cron",
    "InvalidScheduleExpression",
    "Rate",
    "ScheduleExpression",
    "parse_rule_expression",
    "parse_scheduler_expression",
    "wall_clock_instant",
]
