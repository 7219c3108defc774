"""Event bus permissions: PutPermission and RemovePermission, the bus's resource policy (router.policies).

The policy is kept in the bus record (`Policy`, the JSON document) and shown by DescribeEventBus as a JSON string,
as AWS does. PutPermission either adds a statement made from `Action` (only `events:PutEvents`, as AWS allows),
`Principal` (an account id or `*`), `StatementId` and `Condition` (replacing a statement of the same `Sid`), or
replaces the whole document with `Policy`. RemovePermission removes one statement by `StatementId`, or the whole
policy with `RemoveAllPermissions`; a bus left with no statement has no policy. A policy longer than
`quotas.policy_size_chars` (10,240, AWS's quota) is refused with PolicyLengthExceededException. Every change is a
check-and-set of the bus record, so concurrent changes never lose a statement.

Enforcement (PutEvents from another account, and another account's rule targeting the bus) reads the same policy:
router.api.put_events and router.delivery.bus_policy (each cross-account bus-target delivery) call
`router.policies.allows`.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.api._control import arns
from router.errors import PolicyLengthExceededException, ResourceNotFoundException, ValidationException
from router.policies import VERSION, permission_statement
from router.protocol import Handler
from router.state import AppState
from router.store import stores
from router.store.protocol import Record

__all__ = ["OPERATIONS", "policy_text"]

_ACTION = "events:PutEvents"


def policy_text(record: Record) -> str | None:
    """The bus's policy as DescribeEventBus shows it (a JSON string), or None without one."""
    policy = record.get("Policy")
    return orjson.dumps(policy).decode() if policy else None


def _bus_missing(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Event bus {name} does not exist.")


def _whole_policy(text: str) -> dict[str, Any]:
    try:
        policy = orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise ValidationException("Parameter Policy is not valid. Reason: Policy is not valid JSON.") from err
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if not isinstance(statements, list | dict):
        raise ValidationException("Parameter Policy is not valid. Reason: Policy must have a Statement.")
    return dict(policy)


def _statement(body: dict[str, Any], resource: str) -> dict[str, Any]:
    action, principal, statement_id = body.get("Action"), body.get("Principal"), body.get("StatementId")
    missing = [name for name in ("Action", "Principal", "StatementId") if not body.get(name)]
    if missing:
        raise ValidationException(f"Parameter(s) {', '.join(missing)} must be specified.")
    if action != _ACTION:
        raise ValidationException("Provided value in parameter 'action' is not supported.")
    condition = body.get("Condition")
    if condition and principal != "*":
        raise ValidationException(
            "Value of the parameter 'principal' must be '*' when the parameter 'condition' is set."
        )
    return permission_statement(str(statement_id), action, str(principal), resource, condition)


async def put_permission(state: AppState, body: dict[str, Any]) -> None:
    name = body.get("EventBusName") or "default"
    resource = arns(state).bus(name)
    whole = _whole_policy(body["Policy"]) if body.get("Policy") is not None else None
    statement = None if whole is not None else _statement(body, resource)
    limit = state.settings.quotas.policy_size_chars

    def change(record: Record) -> Record:
        if whole is not None:
            policy = whole
        else:
            assert statement is not None
            current = record.get("Policy") or {"Version": VERSION, "Statement": []}
            kept = [s for s in _as_list(current.get("Statement")) if s.get("Sid") != statement["Sid"]]
            policy = {**current, "Statement": [*kept, statement]}
        if limit > 0 and len(orjson.dumps(policy)) > limit:
            raise PolicyLengthExceededException(
                f"The policy of event bus {name} would be longer than the {limit} characters allowed."
            )
        return {**record, "Policy": policy}

    buses, _ = stores(state)
    if await buses.update(name, change) is None:
        raise _bus_missing(name)


async def remove_permission(state: AppState, body: dict[str, Any]) -> None:
    name = body.get("EventBusName") or "default"
    remove_all = body.get("RemoveAllPermissions") is True
    statement_id = body.get("StatementId")
    if not remove_all and not statement_id:
        raise ValidationException("Parameter(s) StatementId or RemoveAllPermissions must be specified.")

    def change(record: Record) -> Record:
        policy = record.get("Policy")
        if remove_all:
            if not policy:
                raise ResourceNotFoundException("EventBus does not have a policy.")
            return {**record, "Policy": None}
        statements = _as_list((policy or {}).get("Statement"))
        kept = [s for s in statements if s.get("Sid") != statement_id]
        if len(kept) == len(statements):
            raise ResourceNotFoundException("Statement with the provided id does not exist.")
        return {**record, "Policy": {**(policy or {}), "Statement": kept} if kept else None}

    buses, _ = stores(state)
    if await buses.update(name, change) is None:
        raise _bus_missing(name)


def _as_list(statements: Any) -> list[dict[str, Any]]:
    if isinstance(statements, dict):
        return [statements]
    return [s for s in statements or [] if isinstance(s, dict)]


OPERATIONS: dict[str, Handler] = {"PutPermission": put_permission, "RemovePermission": remove_permission}
