"""Event bus resource policies: the statements PutPermission writes, and the check that enforces them (pure).

A bus's policy is the IAM document AWS keeps for it (`{"Version": "2012-10-17", "Statement": [...]}`), shown as a
JSON string in DescribeEventBus's `Policy`. PutPermission either adds (or replaces, by `Sid`) one statement made
from `Action`, `Principal`, `StatementId` and `Condition`, as AWS writes it:

    {"Sid": ID, "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::ACCOUNT:root"} (or "*"),
     "Action": "events:PutEvents", "Resource": BUS_ARN,
     "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-..."}}}

or replaces the whole document with its `Policy`. Enforcement: PutEvents to another account's bus
(router.api.put_events, per entry) and a rule's target on another account's bus (PutTargets refuses it,
router.api.targets; the delivery re-checks, router.delivery.bus_target) need the destination bus's policy to allow
the source account `events:PutEvents`, else AWS's `AccessDeniedException` with IAM's text (`access_denied_message`).
`allows(policy, account, action, resource)` answers whether the
policy lets `account` do `action` on `resource`, the way IAM evaluates a resource policy: a matching Deny wins, else
a matching Allow grants, else nothing does. A statement matches when its Principal names the account (`*`, the
account id, or its `arn:aws:iam::ACCOUNT:...` ARNs), its Action and Resource match (IAM wildcards `*` and `?`,
`NotAction`/`NotResource` too) and every Condition holds. Conditions understood: `StringEquals`, `StringLike` and
their `Not` forms on `aws:PrincipalAccount`, `aws:SourceAccount` and `aws:PrincipalOrgID`; Switchboard has no
AWS Organizations, so an account belongs to no organization and a condition on any other key never holds.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "PUT_EVENTS_ACTION",
    "VERSION",
    "access_denied_entry",
    "access_denied_message",
    "allows",
    "permission_statement",
    "principal_arn",
]

VERSION = "2012-10-17"
PUT_EVENTS_ACTION = "events:PutEvents"
_ACCOUNT_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):.+")


def principal_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def access_denied_message(account: str, resource: str, action: str = PUT_EVENTS_ACTION) -> str:
    """IAM's refusal text when no resource-based policy grants `account` the action (AWS's wording)."""
    return (
        f"User: {principal_arn(account)} is not authorized to perform: {action} on resource: {resource} "
        f"because no resource-based policy allows the {action} action"
    )


def access_denied_entry(account: str, resource: str) -> dict[str, str]:
    """A PutEvents result entry refused by the destination bus's policy (AWS answers it per entry)."""
    return {"ErrorCode": "AccessDeniedException", "ErrorMessage": access_denied_message(account, resource)}


def permission_statement(
    statement_id: str, action: str, principal: str, resource: str, condition: Mapping[str, str] | None
) -> dict[str, Any]:
    """The statement PutPermission adds for its Action/Principal/StatementId/Condition members."""
    statement: dict[str, Any] = {
        "Sid": statement_id,
        "Effect": "Allow",
        "Principal": "*" if principal == "*" else {"AWS": principal_arn(principal)},
        "Action": action,
        "Resource": resource,
    }
    if condition:
        statement["Condition"] = {condition["Type"]: {condition["Key"]: condition["Value"]}}
    return statement


def allows(policy: Mapping[str, Any] | None, account: str, action: str, resource: str) -> bool:
    """Whether `policy` lets `account` perform `action` on `resource` (an explicit Deny wins over any Allow)."""
    if not policy:
        return False
    allowed = False
    for statement in _statements(policy):
        if not _matches(statement, account, action, resource):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = policy.get("Statement")
    if isinstance(found, Mapping):
        return [found]
    if isinstance(found, list):
        return [s for s in found if isinstance(s, Mapping)]
    return []


def _matches(statement: Mapping[str, Any], account: str, action: str, resource: str) -> bool:
    if not _principal_matches(statement.get("Principal"), account):
        return False
    if "NotAction" in statement:
        if _any_glob(statement["NotAction"], action, ignore_case=True):
            return False
    elif not _any_glob(statement.get("Action"), action, ignore_case=True):
        return False
    if "NotResource" in statement:
        if _any_glob(statement["NotResource"], resource):
            return False
    elif not _any_glob(statement.get("Resource", "*"), resource):
        return False
    return _conditions_hold(statement.get("Condition"), account)


def _principal_matches(principal: Any, account: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    names = principal.get("AWS")
    for name in names if isinstance(names, list) else [names]:
        if not isinstance(name, str):
            continue
        if name in ("*", account):
            return True
        found = _ACCOUNT_ARN.fullmatch(name)
        if found is not None and found.group(1) == account:
            return True
    return False


def _any_glob(patterns: Any, value: str, *, ignore_case: bool = False) -> bool:
    items: Sequence[Any] = patterns if isinstance(patterns, list) else [patterns]
    for pattern in items:
        if not isinstance(pattern, str):
            continue
        if ignore_case:
            pattern, candidate = pattern.lower(), value.lower()
        else:
            candidate = value
        if fnmatch.fnmatchcase(candidate, pattern.replace("[", "[[]")):
            return True
    return False


_KEYS = ("aws:principalaccount", "aws:sourceaccount", "aws:principalorgid")


def _conditions_hold(conditions: Any, account: str) -> bool:
    if conditions is None:
        return True
    if not isinstance(conditions, Mapping):
        return False
    context = {"aws:principalaccount": account, "aws:sourceaccount": account}  # no organizations here
    for operator, tests in conditions.items():
        if not isinstance(tests, Mapping):
            return False
        for key, expected in tests.items():
            if str(key).lower() not in _KEYS:
                return False
            if not _condition(str(operator), context.get(str(key).lower()), expected):
                return False
    return True


def _condition(operator: str, actual: str | None, expected: Any) -> bool:
    values = [v for v in (expected if isinstance(expected, list) else [expected]) if isinstance(v, str)]
    if operator == "StringEquals":
        return actual is not None and actual in values
    if operator == "StringNotEquals":
        return actual is None or actual not in values
    if operator == "StringLike":
        return actual is not None and _any_glob(values, actual)
    if operator == "StringNotLike":
        return actual is None or not _any_glob(values, actual)
    return False  # an operator we do not evaluate never holds
