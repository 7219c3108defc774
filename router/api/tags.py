"""Tag operations on buses and rules: TagResource, UntagResource, ListTagsForResource.

Tags live inside the resource's own record (the bus record in the registry, the rule record in its bus's rules
hash), so they are created and deleted with the resource and every change is one check-and-set. A new key is
appended, an existing key gets the new value, and untagging a key the resource lacks is a no-op. An ARN that is
not one of our bus or rule ARNs is a ValidationException; one that names a missing bus or rule is
ResourceNotFoundException with the same text DescribeEventBus / DescribeRule use. A resource holds at most
`quotas.tags_per_resource` tags (50): a TagResource that would pass it is LimitExceededException and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from router.api._control import arns, check_not_managed, check_tag_count, check_tags, merge_tags, rule_not_found
from router.arns import ResourceRef
from router.errors import ResourceNotFoundException, ValidationException
from router.protocol import Handler
from router.state import AppState
from router.store import stores
from router.store.protocol import Record

_Tags = list[dict[str, str]]


def _resource(state: AppState, arn: str) -> ResourceRef:
    ref = arns(state).resource(arn)
    if ref is None:
        raise ValidationException(f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format.")
    return ref


async def _change_tags(state: AppState, arn: str, change: Callable[[_Tags], _Tags]) -> None:
    ref = _resource(state, arn)
    buses, rules = stores(state)
    if ref.rule is None:
        updated = await buses.update(ref.bus, lambda record: {**record, "Tags": change(record.get("Tags") or [])})
        if updated is None:
            raise ResourceNotFoundException(f"Event bus {ref.bus} does not exist.")
        return
    if await buses.get(ref.bus) is None:
        raise ResourceNotFoundException(f"Event bus {ref.bus} does not exist.")
    rule = ref.rule

    def retag(current: Record | None) -> Record:
        if current is None:
            raise rule_not_found(rule, ref.bus)
        check_not_managed(current)
        return {**current, "Tags": change(current.get("Tags") or [])}

    await rules.update(ref.bus, rule, retag)


async def tag_resource(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    added = check_tags(body["Tags"])
    limit = state.settings.quotas.tags_per_resource

    def retag(tags: _Tags) -> _Tags:
        merged = merge_tags(tags, added)
        check_tag_count(merged, limit)
        return merged

    await _change_tags(state, body["ResourceARN"], retag)
    return {}


async def untag_resource(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    removed = set(body["TagKeys"])
    await _change_tags(state, body["ResourceARN"], lambda tags: [tag for tag in tags if tag["Key"] not in removed])
    return {}


async def list_tags_for_resource(state: AppState, body: dict[str, Any]) -> dict[str, Any]:
    ref = _resource(state, body["ResourceARN"])
    buses, rules = stores(state)
    bus = await buses.get(ref.bus)
    if bus is None:
        raise ResourceNotFoundException(f"Event bus {ref.bus} does not exist.")
    if ref.rule is None:
        return {"Tags": bus.get("Tags") or []}
    rule = await rules.get(ref.bus, ref.rule)
    if rule is None:
        raise rule_not_found(ref.rule, ref.bus)
    return {"Tags": rule.get("Tags") or []}


OPERATIONS: dict[str, Handler] = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
