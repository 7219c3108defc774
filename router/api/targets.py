"""Target operations: PutTargets, RemoveTargets, ListTargetsByRule.

PutTargets is all or nothing. Every target is checked first (ARN format; Input, InputPath and InputTransformer
are mutually exclusive; Input is JSON; the transformer's placeholders are defined), and any problem fails the
whole call with AWS's ValidationException text before anything is stored. The store then counts and writes the
targets in one script, so a call that would give the rule a sixth target fails with LimitExceededException and
stores nothing. A target whose Id the rule already has is replaced in place; when one request repeats an Id, the
last entry wins. Because of this atomicity the response's `FailedEntries` is always empty on success.

A target may be an event bus of any account and region (router.namespace): the event goes into that namespace's bus.
Another account's bus must allow the caller's account `events:PutEvents` in its resource policy (router.policies),
else PutTargets fails with AccessDeniedException and stores nothing; a bus of the same account in another region
needs no policy (AWS authorizes that with the account's own IAM, which Switchboard does not have).

RemoveTargets drops the listed Ids (Ids the rule does not have are ignored, as on AWS), needs `Force` on a
managed rule, and reports no per-target failures either.
"""

from __future__ import annotations

import re
from typing import Any

from router.api._control import check_not_managed, existing_bus, paginate, rule_not_found, with_token
from router.delivery.functions import missing_function
from router.errors import AccessDeniedException, ValidationException
from router.namespace import parse_bus_arn
from router.policies import PUT_EVENTS_ACTION, access_denied_message, allows
from router.protocol import Handler
from router.state import AppState
from router.store import stores
from router.transform import validate_target_input

_ARN = re.compile(r"arn:[^:]+:[^:]*:[^:]*:[^:]*:.+")
"""`arn:partition:service:region:account:resource`; region and account may be empty (S3, IAM)."""


def target_problems(target: dict[str, Any]) -> list[str]:
    """Every problem PutTargets' checks that need no stored state find in one target, in the order PutTargets
    reports them (it answers the first); `switchboard config validate` lists them all."""
    problems: list[str] = []
    arn = target["Arn"]
    if not _ARN.fullmatch(arn):
        problems.append(f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format.")
    problem = validate_target_input(target)
    if problem is not None:
        problems.append(problem)
    return problems


def _check_target(target: dict[str, Any]) -> None:
    problems = target_problems(target)
    if problems:
        raise ValidationException(problems[0])


async def put_targets(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    rule: str = body["Rule"]
    targets: list[dict[str, Any]] = body["Targets"]
    bus, _, rules = await existing_bus(state, body.get("EventBusName"))
    for target in targets:
        _check_target(target)
        unmapped = await missing_function(state.redis, state.keys, target)  # no Lambda here: needs a URL mapping
        if unmapped is not None:
            raise ValidationException(unmapped)
    current = await rules.get(bus, rule)
    if current is None:
        raise rule_not_found(rule, bus)
    check_not_managed(current)
    for target in targets:
        await _check_cross_account(state, str(target["Arn"]))
    await rules.put_targets(bus, rule, targets)
    return {"FailedEntryCount": 0, "FailedEntries": []}


async def _check_cross_account(state: AppState, arn: str) -> None:
    """A target on another account's event bus needs that bus's resource policy to allow the caller's account
    `events:PutEvents` (router.policies), as AWS checks at PutTargets: AccessDeniedException otherwise (also when
    that bus does not exist, since the caller cannot see another account's buses)."""
    parsed = parse_bus_arn(arn)
    if parsed is None or parsed.account == state.account_id:
        return
    buses, _ = stores(state, parsed.namespace)
    record = await buses.get(parsed.name)
    if record is None or not allows(record.get("Policy"), state.account_id, PUT_EVENTS_ACTION, str(record["Arn"])):
        raise AccessDeniedException(access_denied_message(state.account_id, arn))


async def remove_targets(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    rule: str = body["Rule"]
    bus, _, rules = await existing_bus(state, body.get("EventBusName"))
    current = await rules.get(bus, rule)
    if current is None:
        raise rule_not_found(rule, bus)
    check_not_managed(current, force=body.get("Force") is True, can_force=True)
    await rules.remove_targets(bus, rule, body["Ids"])
    return {"FailedEntryCount": 0, "FailedEntries": []}


async def list_targets_by_rule(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    rule: str = body["Rule"]
    bus, _, rules = await existing_bus(state, body.get("EventBusName"))
    if await rules.get(bus, rule) is None:
        raise rule_not_found(rule, bus)
    page, token = paginate(await rules.targets(bus, rule), lambda target: str(target["Id"]), body)
    return with_token({"Targets": page}, token)


OPERATIONS: dict[str, Handler] = {
    "PutTargets": put_targets,
    "RemoveTargets": remove_targets,
    "ListTargetsByRule": list_targets_by_rule,
}
