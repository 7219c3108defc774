"""Rule operations: PutRule, DescribeRule, ListRules, EnableRule, DisableRule, DeleteRule, ListRuleNamesByTarget.

PutRule is create-or-replace, as on AWS: arguments left out become null, except the rule's tags, which only
TagResource changes once the rule exists. The pattern is validated by the `patterns` package before anything is
written, so an invalid pattern gets AWS's exact InvalidEventPatternException text and the rule already in force
stays untouched. Every write goes through the rule store, which bumps the bus's version counter in the same
script so the ingest worker reloads the bus.

A ScheduleExpression is checked the way AWS does (default bus only; `rate(...)` and `cron(...)` validated exactly
by router.schedules.expressions), with or without an EventPattern (a rule with both fires on both). After every
PutRule and DeleteRule the rule's timer is brought in line (router.schedules.scheduled_rules), which makes each tick
append a scheduled event for the rule's targets. Rules live on a bus of the request's namespace (router.namespace).
"""

from __future__ import annotations

from typing import Any

import patterns
from router.api._control import (
    arns,
    check_not_managed,
    check_tags,
    existing_bus,
    paginate,
    pick,
    rule_not_found,
    with_token,
)
from router.arns import DEFAULT_BUS
from router.errors import InvalidEventPatternException, ValidationException
from router.protocol import Handler
from router.schedules import InvalidScheduleExpression, parse_rule_expression
from router.schedules.scheduled_rules import rule_changed
from router.state import AppState
from router.store.protocol import Record

RULE_FIELDS = ("Name", "Arn", "EventPattern", "State", "Description", "ScheduleExpression", "RoleArn", "ManagedBy")
_DESCRIBE_FIELDS = (*RULE_FIELDS, "EventBusName", "CreatedBy")
_LIST_FIELDS = (*RULE_FIELDS, "EventBusName")
_CLOUDTRAIL_STATE = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def validate_pattern(text: str) -> None:
    """Raise InvalidEventPatternException with AWS's text: the reason, then (for pattern text) the Jackson
    position line AWS appends, e.g. `\n at [Source: (String)"{...}"; line: 1, column: 14]`."""
    try:
        patterns.validate(text)
    except patterns.InvalidEventPattern as err:
        message = err.message if err.location is None else f"{err.message}\n at {err.location}"
        raise InvalidEventPatternException(message) from err


def _check_schedule(expression: str, bus: str) -> None:
    if bus != DEFAULT_BUS:
        raise ValidationException("ScheduleExpression is supported only on the default event bus.")
    try:
        parse_rule_expression(expression)
    except InvalidScheduleExpression as err:
        raise ValidationException("Parameter ScheduleExpression is not valid.") from err


async def put_rule(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    name: str = body["Name"]
    bus, _, rules = await existing_bus(state, body.get("EventBusName"))
    pattern = body.get("EventPattern")
    schedule = body.get("ScheduleExpression")
    if pattern is None and schedule is None:
        raise ValidationException("Parameter(s) EventPattern or ScheduleExpression must be specified.")
    if schedule is not None:
        _check_schedule(schedule, bus)
    if pattern is not None:
        validate_pattern(pattern)
    rule_state = body.get("State") or "ENABLED"
    if rule_state == _CLOUDTRAIL_STATE and bus != DEFAULT_BUS:
        raise ValidationException(f"State {_CLOUDTRAIL_STATE} is supported only on the default event bus.")
    tags = check_tags(body.get("Tags") or [], state.settings.quotas.tags_per_resource)
    arn = arns(state).rule(bus, name)

    def replace(current: Record | None) -> Record:
        if current is not None:
            check_not_managed(current)
        return {
            "Name": name,
            "Arn": arn,
            "EventBusName": bus,
            "EventPattern": pattern,
            "ScheduleExpression": schedule,
            "State": rule_state,
            "Description": body.get("Description"),
            "RoleArn": body.get("RoleArn"),
            "ManagedBy": None,
            "CreatedBy": state.account_id,
            "Tags": current["Tags"] if current is not None else tags,
        }

    stored = await rules.update(bus, name, replace)
    await rule_changed(state, rules.bus_id(bus), name, stored)
    return {"RuleArn": arn}


async def describe_rule(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    bus, _, rules = await existing_bus(state, body.get("EventBusName"))
    record = await rules.get(bus, body["Name"])
    if record is None:
        raise rule_not_found(body["Name"], bus)
    return pick(record, _DESCRIBE_FIELDS)


async def list_rules(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    bus, _, rules = await existing_bus(state, body.get("EventBusName"))
    prefix = body.get("NamePrefix") or ""
    records = [record for record in await rules.all(bus) if record["Name"].startswith(prefix)]
    page, token = paginate(records, lambda record: str(record["Name"]), body)
    return with_token({"Rules": [pick(record, _LIST_FIELDS) for record in page]}, token)


async def _set_state(state: AppState, body: dict[str, Any], rule_state: str) -> None:
    name: str = body["Name"]
    bus, _, rules = await existing_bus(state, body.get("EventBusName"))

    def change(current: Record | None) -> Record:
        if current is None:
            raise rule_not_found(name, bus)
        check_not_managed(current)
        return {**current, "State": rule_state}

    await rules.update(bus, name, change)


async def enable_rule(state: AppState, body: dict[str, Any]) -> None:
    await _set_state(state, body, "ENABLED")


async def disable_rule(state: AppState, body: dict[str, Any]) -> None:
    await _set_state(state, body, "DISABLED")


async def delete_rule(state: AppState, body: dict[str, Any]) -> None:
    name: str = body["Name"]
    force = body.get("Force") is True
    bus, _, rules = await existing_bus(state, body.get("EventBusName"))
    current = await rules.get(bus, name)
    if current is None:
        return  # deleting a rule that does not exist succeeds, as on AWS
    check_not_managed(current, force=force, can_force=True)
    # A managed rule deleted with Force takes its targets with it; any other rule must have none left.
    managed = bool(current.get("ManagedBy"))
    await rules.update(bus, name, lambda _current: None, keep_targets=not managed)
    await rule_changed(state, rules.bus_id(bus), name, None)


async def list_rule_names_by_target(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    target_arn: str = body["TargetArn"]
    bus, _, rules = await existing_bus(state, body.get("EventBusName"))
    names = [record["Name"] for record in await rules.all(bus)]
    targets = await rules.targets_by_rule(bus, names)
    matching = [name for name in names if any(target.get("Arn") == target_arn for target in targets[name])]
    page, token = paginate(matching, str, body)
    return with_token({"RuleNames": page}, token)


OPERATIONS: dict[str, Handler] = {
    "PutRule": put_rule,
    "DescribeRule": describe_rule,
    "ListRules": list_rules,
    "EnableRule": enable_rule,
    "DisableRule": disable_rule,
    "DeleteRule": delete_rule,
    "ListRuleNamesByTarget": list_rule_names_by_target,
}
