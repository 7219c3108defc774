"""PutRule with a ScheduleExpression through the API: AWS's exact errors for the whole validation table, the custom
bus error, schedules with and without an EventPattern, and what DescribeRule and ListRules echo."""

from __future__ import annotations

import pytest

from tests.router.conftest import Api
from tests.router.schedules.test_expressions import AWS_INVALID_RULES, AWS_VALID_RULES, OUR_INVALID, OUR_VALID

pytestmark = pytest.mark.integration

INVALID = ("ValidationException", "Parameter ScheduleExpression is not valid.")


async def test_every_invalid_expression_gets_aws_error_and_stores_nothing(api: Api) -> None:
    for expression in AWS_INVALID_RULES + OUR_INVALID:
        if not expression or len(expression) > 256:
            continue  # empty and over-long text fail the model's length constraint first (router.validation)
        status, code, message = await api.error("PutRule", {"Name": "r", "ScheduleExpression": expression})
        assert (status, code, message) == (400, *INVALID), expression
    assert (await api.ok("ListRules", {}))["Rules"] == []


async def test_model_constraints_come_first() -> None:
    # an empty or 257-character expression is refused by the model's length constraint (1-256), as on AWS
    from router.errors import ValidationException
    from router.validation import validate_input

    with pytest.raises(ValidationException, match="scheduleExpression"):
        validate_input("PutRule", {"Name": "r", "ScheduleExpression": "r" * 257})


async def test_every_valid_expression_is_stored_and_echoed(api: Api) -> None:
    names = []
    for index, expression in enumerate(AWS_VALID_RULES + OUR_VALID):
        name = f"r{index:03d}"
        names.append(name)
        await api.ok("PutRule", {"Name": name, "ScheduleExpression": expression})
        assert (await api.ok("DescribeRule", {"Name": name}))["ScheduleExpression"] == expression
    listed = await api.ok("ListRules", {})
    assert [rule["Name"] for rule in listed["Rules"]] == names
    assert [rule["ScheduleExpression"] for rule in listed["Rules"]] == AWS_VALID_RULES + OUR_VALID


async def test_custom_bus_refused_even_with_a_pattern(api: Api) -> None:
    await api.ok("CreateEventBus", {"Name": "shop"})
    body = {"Name": "r", "EventBusName": "shop", "ScheduleExpression": "rate(1 minute)", "EventPattern": "{}"}
    assert await api.error("PutRule", body) == (
        400,
        "ValidationException",
        "ScheduleExpression is supported only on the default event bus.",
    )


async def test_schedule_with_a_pattern(api: Api) -> None:
    pattern = '{"source": ["orders"]}'
    arn = (
        await api.ok("PutRule", {"Name": "both", "ScheduleExpression": "cron(0 12 * * ? *)", "EventPattern": pattern})
    )["RuleArn"]
    assert arn == "arn:aws:events:us-east-1:123456789012:rule/both"
    described = await api.ok("DescribeRule", {"Name": "both"})
    assert described["EventPattern"] == pattern
    assert described["ScheduleExpression"] == "cron(0 12 * * ? *)"
    await api.ok("PutRule", {"Name": "both", "EventPattern": pattern})  # PutRule replaces: the schedule is gone
    assert "ScheduleExpression" not in await api.ok("DescribeRule", {"Name": "both"})


async def test_schedule_on_the_default_bus_by_arn(api: Api) -> None:
    bus_arn = "arn:aws:events:us-east-1:123456789012:event-bus/default"
    await api.ok("PutRule", {"Name": "r", "EventBusName": bus_arn, "ScheduleExpression": "rate(1 day)"})
    assert (await api.ok("DescribeRule", {"Name": "r"}))["ScheduleExpression"] == "rate(1 day)"
