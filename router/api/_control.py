"""Helpers shared by the control-plane handlers: ARNs, bus look-up, pagination, tags and response shaping.

Pagination is keyed, not positional: a `NextToken` is the opaque (base64url JSON) name of the last item returned, and
the next page starts after it in name order, so rules created or deleted between pages never shift a page. A
page that reaches the end carries no `NextToken` (the aws CLI would otherwise loop forever).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import orjson

from router.arns import Arns
from router.errors import ManagedRuleException, ResourceNotFoundException, ValidationException
from router.quotas import limit_exceeded, within
from router.state import AppState
from router.store import BusStore, RuleStore, stores
from router.store.protocol import Record

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 100
"""Items per page when the request gives no `Limit` (the model's maximum)."""


def arns(state: AppState) -> Arns:
    return Arns(state.region, state.account_id)


def now_s() -> float:
    return round(time.time(), 3)


async def existing_bus(state: AppState, name_or_arn: str | None) -> tuple[str, BusStore, RuleStore]:
    """Resolve an `EventBusName` parameter to a bus that exists (else ResourceNotFoundException)."""
    bus = arns(state).bus_name(name_or_arn)
    buses, rules = stores(state)
    if await buses.get(bus) is None:
        raise ResourceNotFoundException(f"Event bus {bus} does not exist.")
    return bus, buses, rules


def rule_not_found(rule: str, bus: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Rule {rule} does not exist on EventBus {bus}.")


def check_not_managed(record: Record, *, force: bool = False, can_force: bool = False) -> None:
    """Managed rules belong to another service: changes need `Force` where the operation has it."""
    if record.get("ManagedBy") and not force:
        name = record["Name"]
        if can_force:
            raise ManagedRuleException(f"{name} is a managed rule. Set 'force' parameter to true to override.")
        raise ManagedRuleException(f"{name} is a managed rule. It can only be changed by {record['ManagedBy']}.")


def paginate(items: Sequence[T], key: Callable[[T], str], body: Mapping[str, Any]) -> tuple[list[T], str | None]:
    """One page of `items` (sorted by `key`) after the request's NextToken, and the token for the next page."""
    limit = body.get("Limit") or DEFAULT_PAGE_SIZE
    token = body.get("NextToken")
    if token:
        after = _decode_token(token)
        items = [item for item in items if key(item) > after]
    page = list(items[:limit])
    next_token = encode_token(key(page[-1])) if len(items) > limit else None
    return page, next_token


def with_token(response: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        response["NextToken"] = token
    return response


def encode_token(last: str) -> str:
    """A keyed page's NextToken: the base64url JSON `{"after": last}` (the Schemas API's pages use it too)."""
    return base64.urlsafe_b64encode(orjson.dumps({"after": last})).decode()


def token_after(token: str) -> str | None:
    """The key a NextToken made by `encode_token` names, or None when it is not such a token."""
    try:
        decoded = orjson.loads(base64.b64decode(token.encode(), altchars=b"-_", validate=True))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        return None
    after = decoded.get("after") if isinstance(decoded, dict) else None
    return after if isinstance(after, str) else None


def _decode_token(token: str) -> str:
    after = token_after(token)
    if after is None:
        raise ValidationException("Parameter NextToken is not valid.")
    return after


def pick(record: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The named fields of a record that are set (AWS leaves unset members out of responses)."""
    return {name: record[name] for name in fields if record.get(name) is not None}


def check_tags(tags: Sequence[Mapping[str, str]], limit: int = 0) -> list[dict[str, str]]:
    """The request's tags; duplicated keys are ValidationException, more than `limit` (0: any) LimitExceeded."""
    keys = [tag["Key"] for tag in tags]
    if len(set(keys)) != len(keys):
        raise ValidationException("Invalid parameter: Duplicated keys are not allowed.")
    check_tag_count(tags, limit)
    return [{"Key": tag["Key"], "Value": tag["Value"]} for tag in tags]


def check_tag_count(tags: Sequence[Mapping[str, str]], limit: int) -> None:
    """The tags-per-resource quota (settings `quotas.tags_per_resource`; 0: no limit)."""
    if not within(len(tags), limit):
        raise limit_exceeded()


def merge_tags(current: Sequence[Mapping[str, str]], added: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """TagResource: new keys are appended, existing keys get the new value."""
    merged = {tag["Key"]: tag["Value"] for tag in current}
    merged.update({tag["Key"]: tag["Value"] for tag in added})
    return [{"Key": key, "Value": value} for key, value in merged.items()]
