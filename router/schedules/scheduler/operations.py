"""EventBridge Scheduler's operations: schedules, schedule groups (the `default` group always exists) and tags.

Handlers take the assembled, model-validated input (router.schedules.scheduler.protocol) and return the output.
CreateSchedule and UpdateSchedule check what the model cannot: the expression (router.schedules.expressions,
Scheduler's dialect: `at`, `rate`, `cron`), the time zone (IANA, via zoneinfo), the flexible window, StartDate and
EndDate, and an event-bus target's Input (PutEvents needs a JSON object as Detail). UpdateSchedule replaces every
member, as on AWS: what the request leaves out goes back to its default. Every write then (re)sets the schedule's
timer (router.schedules.scheduler.firing). Messages marked *ours* in docs/schedules.md are where AWS's text is not
recorded.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from router.api._control import paginate, with_token
from router.delivery.transports import service_of
from router.schedules.expressions import At, InvalidScheduleExpression, parse_scheduler_expression
from router.schedules.scheduler.errors import ConflictException, ResourceNotFoundException, ValidationException
from router.schedules.scheduler.firing import delivery_owner, schedule_timer
from router.schedules.scheduler.store import DEFAULT_GROUP, SchedulerStore, group_owner
from router.state import AppState
from router.timers import TimerRunner, Timers

__all__ = ["OPERATIONS", "ensure_default_group", "store_of"]

STORE = "scheduler_store"
DEFAULT_RETRY_POLICY = {"MaximumEventAgeInSeconds": 86_400, "MaximumRetryAttempts": 185}
START_DATE_GRACE_MS = 5 * 60_000
_SCHEDULE_FIELDS = (
    "Arn",
    "GroupName",
    "Name",
    "ScheduleExpression",
    "StartDate",
    "EndDate",
    "Description",
    "ScheduleExpressionTimezone",
    "State",
    "CreationDate",
    "LastModificationDate",
    "KmsKeyArn",
    "Target",
    "FlexibleTimeWindow",
    "ActionAfterCompletion",
)
_GROUP_FIELDS = ("Arn", "Name", "State", "CreationDate", "LastModificationDate")


def store_of(state: AppState) -> SchedulerStore:
    """The process's store of the request's namespace (router.namespace)."""
    found = state.extras.get(STORE)
    if found is None:
        found = state.extras[STORE] = SchedulerStore(state.redis, state.keys, state.home)
    assert isinstance(found, SchedulerStore)
    return found.within(state.namespace)


def _arn_prefix(state: AppState) -> str:
    return f"arn:aws:scheduler:{state.region}:{state.account_id}:"


def group_arn(state: AppState, group: str) -> str:
    return f"{_arn_prefix(state)}schedule-group/{group}"


def schedule_arn(state: AppState, group: str, name: str) -> str:
    return f"{_arn_prefix(state)}schedule/{group}/{name}"


async def _now_ms(state: AppState) -> int:
    runner: TimerRunner = state.extras["timer_runner"]
    return await runner.clock.now_ms()


def _pick(record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: record[name] for name in fields if record.get(name) is not None}


async def ensure_default_group(state: AppState) -> None:
    """The `default` group exists in every account: it is stored when Scheduler is first used (idempotent), so a
    router whose users never call Scheduler keeps no Scheduler keys."""
    now_s = await _now_ms(state) / 1000
    await store_of(state).create_group(
        {
            "Name": DEFAULT_GROUP,
            "Arn": group_arn(state, DEFAULT_GROUP),
            "State": "ACTIVE",
            "CreationDate": now_s,
            "LastModificationDate": now_s,
            "Tags": [],
        }
    )


async def _existing_group(state: AppState, name: str) -> dict[str, Any]:
    group = await store_of(state).get_group(name)
    if group is None and name == DEFAULT_GROUP:
        await ensure_default_group(state)
        group = await store_of(state).get_group(name)
    if group is None:
        raise ResourceNotFoundException(f"Schedule group {name} does not exist.")
    return group


# -- schedules ------------------------------------------------------------------------------------------------


def _checked(state: AppState, params: dict[str, Any], now_ms: int, created_s: float | None) -> dict[str, Any]:
    """The schedule record CreateSchedule / UpdateSchedule would store, or the ValidationException AWS gives."""
    name: str = params["Name"]
    group: str = params.get("GroupName") or DEFAULT_GROUP
    text: str = params["ScheduleExpression"]
    try:
        expression = parse_scheduler_expression(text)
    except InvalidScheduleExpression as err:
        raise ValidationException(f"Invalid Schedule Expression {text}.") from err
    zone = params.get("ScheduleExpressionTimezone") or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValidationException(f"Invalid time zone {zone}.") from err
    window = dict(params["FlexibleTimeWindow"])
    if window["Mode"] == "FLEXIBLE" and window.get("MaximumWindowInMinutes") is None:
        raise ValidationException(
            "MaximumWindowInMinutes must be provided when the FlexibleTimeWindow Mode is FLEXIBLE."
        )
    if window["Mode"] == "OFF" and window.get("MaximumWindowInMinutes") is not None:
        raise ValidationException(
            "MaximumWindowInMinutes can only be provided when the FlexibleTimeWindow Mode is FLEXIBLE."
        )
    start, end = params.get("StartDate"), params.get("EndDate")
    if not isinstance(expression, At):
        if start is not None and start * 1000 < now_ms - START_DATE_GRACE_MS:
            raise ValidationException("The StartDate you specify cannot be earlier than 5 minutes ago.")
        if end is not None and end * 1000 <= now_ms:
            raise ValidationException("The EndDate you specify cannot be earlier than the current time.")
        if start is not None and end is not None and end <= start:
            raise ValidationException("The EndDate you specify must be after the StartDate.")
    target = dict(params["Target"])
    target["RetryPolicy"] = {**DEFAULT_RETRY_POLICY, **(target.get("RetryPolicy") or {})}
    if service_of(str(target["Arn"])) == "bus" and target.get("Input") is not None:
        try:
            detail = orjson.loads(target["Input"])
        except orjson.JSONDecodeError:
            detail = None
        if not isinstance(detail, dict):
            raise ValidationException("The Input of an EventBridge PutEvents target must be a JSON object.")
    now_s = now_ms / 1000
    return {
        "Arn": schedule_arn(state, group, name),
        "GroupName": group,
        "Name": name,
        "ScheduleExpression": text,
        "StartDate": start,
        "EndDate": end,
        "Description": params.get("Description"),
        "ScheduleExpressionTimezone": zone,
        "State": params.get("State") or "ENABLED",
        "CreationDate": now_s if created_s is None else created_s,
        "LastModificationDate": now_s,
        "KmsKeyArn": params.get("KmsKeyArn"),
        "Target": target,
        "FlexibleTimeWindow": window,
        "ActionAfterCompletion": params.get("ActionAfterCompletion") or "NONE",
    }


async def create_schedule(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    group = params.get("GroupName") or DEFAULT_GROUP
    await _existing_group(state, group)
    now_ms = await _now_ms(state)
    record = _checked(state, params, now_ms, None)
    if not await store_of(state).create_schedule(group, record):
        raise ConflictException(f"Schedule {params['Name']} already exists.")
    await state.redis.sadd(state.keys.delivery_owners, delivery_owner(store_of(state).key(group)))
    await schedule_timer(state, record, now_ms)
    return {"ScheduleArn": record["Arn"]}


async def update_schedule(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    group = params.get("GroupName") or DEFAULT_GROUP
    store = store_of(state)
    current = await store.get_schedule(group, params["Name"])
    if current is None:
        raise ResourceNotFoundException(f"Schedule {params['Name']} does not exist.")
    now_ms = await _now_ms(state)
    record = _checked(state, params, now_ms, current["CreationDate"])
    if record["LastModificationDate"] == current["LastModificationDate"]:
        record["LastModificationDate"] += 0.001  # a new revision, even within the same millisecond
    if not await store.replace_schedule(group, record):
        raise ResourceNotFoundException(f"Schedule {params['Name']} does not exist.")
    await schedule_timer(state, record, now_ms)
    return {"ScheduleArn": record["Arn"]}


async def get_schedule(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    group = params.get("GroupName") or DEFAULT_GROUP
    record = await store_of(state).get_schedule(group, params["Name"])
    if record is None:
        raise ResourceNotFoundException(f"Schedule {params['Name']} does not exist.")
    return _pick(record, _SCHEDULE_FIELDS)


async def delete_schedule(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    group = params.get("GroupName") or DEFAULT_GROUP
    if not await store_of(state).delete_schedule(group, params["Name"]):
        raise ResourceNotFoundException(f"Schedule {params['Name']} does not exist.")
    timers: Timers = state.extras["timers"]
    await timers.cancel(group_owner(store_of(state).key(group)), params["Name"])
    return {}


async def list_schedules(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    store = store_of(state)
    wanted = params.get("GroupName")
    if wanted is not None:
        await _existing_group(state, wanted)
        groups = [wanted]
    else:
        groups = [str(group["Name"]) for group in await _groups(state)]
    prefix = params.get("NamePrefix") or ""
    state_filter = params.get("State")
    found = [
        record
        for group in groups
        for record in await store.schedules(group)
        if str(record["Name"]).startswith(prefix) and (state_filter is None or record["State"] == state_filter)
    ]
    found.sort(key=_schedule_key)
    page, token = paginate(found, _schedule_key, _paging(params))
    summaries = [
        {**_pick(record, ("Arn", "Name", "GroupName", "State", "CreationDate", "LastModificationDate")),
         "Target": {"Arn": record["Target"]["Arn"]}}
        for record in page
    ]  # fmt: skip
    return with_token({"Schedules": summaries}, token)


def _schedule_key(record: dict[str, Any]) -> str:
    return f"{record['GroupName']}/{record['Name']}"


def _paging(params: dict[str, Any]) -> dict[str, Any]:
    """Scheduler's MaxResults/NextToken in the control plane's pager terms (router.api._control.paginate)."""
    return {"Limit": params.get("MaxResults"), "NextToken": params.get("NextToken")}


# -- schedule groups ------------------------------------------------------------------------------------------


async def _groups(state: AppState) -> list[dict[str, Any]]:
    groups = await store_of(state).groups()
    if not any(group["Name"] == DEFAULT_GROUP for group in groups):
        await ensure_default_group(state)
        groups = await store_of(state).groups()
    return groups


def _not_default(name: str) -> None:
    if name == DEFAULT_GROUP:
        raise ValidationException("This operation cannot be performed on schedule group default.")


async def create_schedule_group(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    name: str = params["Name"]
    _not_default(name)
    now_s = await _now_ms(state) / 1000
    tags = _tags(params.get("Tags") or [])
    record = {
        "Name": name,
        "Arn": group_arn(state, name),
        "State": "ACTIVE",
        "CreationDate": now_s,
        "LastModificationDate": now_s,
        "Tags": tags,
    }
    if not await store_of(state).create_group(record):
        raise ConflictException(f"Schedule group {name} already exists.")
    return {"ScheduleGroupArn": record["Arn"]}


async def get_schedule_group(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    return _pick(await _existing_group(state, params["Name"]), _GROUP_FIELDS)


async def delete_schedule_group(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    """Deletes the group and every schedule in it (AWS does so asynchronously; here it is done when this returns)."""
    name: str = params["Name"]
    _not_default(name)
    await _existing_group(state, name)
    timers: Timers = state.extras["timers"]
    await store_of(state).delete_group(name)
    await timers.forget_owner(group_owner(store_of(state).key(name)))
    return {}


async def list_schedule_groups(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    prefix = params.get("NamePrefix") or ""
    groups = [group for group in await _groups(state) if str(group["Name"]).startswith(prefix)]
    page, token = paginate(groups, lambda group: str(group["Name"]), _paging(params))
    return with_token({"ScheduleGroups": [_pick(group, _GROUP_FIELDS) for group in page]}, token)


# -- tags (schedule groups only) ------------------------------------------------------------------------------


def _tags(tags: list[dict[str, str]]) -> list[dict[str, str]]:
    keys = [tag["Key"] for tag in tags]
    if len(set(keys)) != len(keys):
        raise ValidationException("Duplicate tag keys are not allowed.")
    return [{"Key": tag["Key"], "Value": tag["Value"]} for tag in tags]


def _group_of_arn(state: AppState, arn: str) -> str:
    prefix = f"{_arn_prefix(state)}schedule-group/"
    if not arn.startswith(prefix) or len(arn) == len(prefix):
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")
    return arn[len(prefix) :]


async def _retag(state: AppState, arn: str, change: Any) -> None:
    name = _group_of_arn(state, arn)
    _not_default(name)
    store = store_of(state)
    group = await _existing_group(state, name)
    group["Tags"] = change(group.get("Tags") or [])
    if not await store.replace_group(group):
        raise ResourceNotFoundException(f"Schedule group {name} does not exist.")


async def tag_resource(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    added = _tags(params["Tags"])

    def merge(current: list[dict[str, str]]) -> list[dict[str, str]]:
        merged = {tag["Key"]: tag["Value"] for tag in current}
        merged.update({tag["Key"]: tag["Value"] for tag in added})
        return [{"Key": key, "Value": value} for key, value in merged.items()]

    await _retag(state, params["ResourceArn"], merge)
    return {}


async def untag_resource(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    removed = set(params["TagKeys"])
    await _retag(state, params["ResourceArn"], lambda current: [tag for tag in current if tag["Key"] not in removed])
    return {}


async def list_tags_for_resource(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    group = await _existing_group(state, _group_of_arn(state, params["ResourceArn"]))
    return {"Tags": group.get("Tags") or []}


OPERATIONS = {
    "CreateSchedule": create_schedule,
    "UpdateSchedule": update_schedule,
    "GetSchedule": get_schedule,
    "DeleteSchedule": delete_schedule,
    "ListSchedules": list_schedules,
    "CreateScheduleGroup": create_schedule_group,
    "GetScheduleGroup": get_schedule_group,
    "DeleteScheduleGroup": delete_schedule_group,
    "ListScheduleGroups": list_schedule_groups,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
