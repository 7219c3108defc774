"""Tags (ListTagsForResource, TagResource, UntagResource) and resource policies (Get/Put/DeleteResourcePolicy).

Tags are a `{key: value}` map on registries, schemas and discoverers, named by their ARN. A resource policy is a
JSON document on a registry (`RegistryName`) or, without one, on the account; each write gets a new `RevisionId`,
and a PutResourcePolicy that names a `RevisionId` other than the current one fails with 412
`PreconditionFailedException` (optimistic concurrency, as on AWS).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from router.state import AppState
from schemas.api.protocol import Handler
from schemas.errors import BadRequestException, NotFoundException
from schemas.services import arns, store
from schemas.store import Record, registry_not_found, schema_not_found

__all__ = ["MAX_TAGS", "OPERATIONS", "TAG_HOOKS", "not_found_arn"]

MAX_TAGS = 50
"""Tags per resource (AWS's limit for Schemas resources)."""

TAG_HOOKS: dict[str, Any] = {}
"""`kind` -> async (state, name, mutate) that applies a tag change to another kind of resource (discoverers)."""


def not_found_arn(name: str) -> NotFoundException:
    """A discoverer named by a tag ARN that does not exist (same message as any other resource)."""
    return NotFoundException(f"Resource {name} does not exist.")


def _not_found(arn: str) -> NotFoundException:
    return NotFoundException(f"Resource {arn} does not exist.")


async def _change_tags(state: AppState, arn: str, change: Any) -> dict[str, str]:
    """Apply `change(tags) -> tags` to the resource `arn` names; returns the new tags."""
    ref = arns(state).parse(arn)
    if ref is None:
        raise _not_found(arn)
    result: dict[str, str] = {}

    def apply(record: Record) -> Record:
        tags = change(dict(record.get("Tags") or {}))
        if len(tags) > MAX_TAGS:
            raise BadRequestException(f"A resource can have at most {MAX_TAGS} tags.")
        result.clear()
        result.update(tags)
        return {**record, "Tags": tags}

    registries = store(state)
    if ref.kind == "registry":
        if await registries.get_registry(ref.name) is None:
            raise _not_found(arn)
        await registries.update_registry(ref.name, apply)
    elif ref.kind == "schema":
        assert ref.registry is not None
        registry = ref.registry

        def mutate(current: Record | None) -> tuple[Record, dict[str, Record | None]]:
            if current is None:
                raise schema_not_found(registry, ref.name)
            return apply(current), {}

        if await registries.get_schema(registry, ref.name) is None:
            raise _not_found(arn)
        await registries.change_schema(registry, ref.name, mutate)
    elif ref.kind in TAG_HOOKS:
        try:
            await TAG_HOOKS[ref.kind](state, ref.name, apply)
        except NotFoundException:
            raise _not_found(arn) from None
    else:
        raise _not_found(arn)
    return result


async def list_tags_for_resource(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": await _change_tags(state, params["ResourceArn"], lambda tags: tags)}


async def tag_resource(state: AppState, params: dict[str, Any]) -> None:
    added: dict[str, str] = params["Tags"]
    await _change_tags(state, params["ResourceArn"], lambda tags: {**tags, **added})


async def untag_resource(state: AppState, params: dict[str, Any]) -> None:
    removed = set(params["TagKeys"])
    await _change_tags(state, params["ResourceArn"], lambda tags: {k: v for k, v in tags.items() if k not in removed})


def _policy_document(policy: Any) -> Any:
    document = policy
    if isinstance(policy, str):
        try:
            document = orjson.loads(policy)
        except orjson.JSONDecodeError as err:
            raise BadRequestException("The policy is not valid JSON.") from err
    if not isinstance(document, dict) or "Statement" not in document:
        raise BadRequestException("The policy must be a JSON policy document with a Statement.")
    return policy


async def _registry_of(state: AppState, params: dict[str, Any]) -> str | None:
    registry: str | None = params.get("RegistryName")
    if registry is not None and await store(state).get_registry(registry) is None:
        raise registry_not_found(registry)
    return registry


async def get_resource_policy(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    record = await store(state).get_policy(await _registry_of(state, params))
    if record is None:
        raise NotFoundException("Resource policy not found.")
    return {"Policy": record["Policy"], "RevisionId": record["RevisionId"]}


async def put_resource_policy(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    registry = await _registry_of(state, params)
    record = {"Policy": _policy_document(params["Policy"]), "RevisionId": str(uuid.uuid4())}
    await store(state).put_policy(registry, record, params.get("RevisionId"))
    return record


async def delete_resource_policy(state: AppState, params: dict[str, Any]) -> None:
    await store(state).put_policy(await _registry_of(state, params), None, None)


OPERATIONS: dict[str, Handler] = {
    "ListTagsForResource": list_tags_for_resource,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "GetResourcePolicy": get_resource_policy,
    "PutResourcePolicy": put_resource_policy,
    "DeleteResourcePolicy": delete_resource_policy,
}
