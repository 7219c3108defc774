"""Registry operations: CreateRegistry, DescribeRegistry, UpdateRegistry, DeleteRegistry, ListRegistries.

The built-in `aws.events` and `discovered-schemas` registries always exist and are read-only: creating, updating
or deleting them answers 403 `ForbiddenException`, as AWS does. ListRegistries' `Scope` is `AWS` (the `aws.events`
registry) or `Local` (the account's own registries, `discovered-schemas` included).
"""

from __future__ import annotations

import re
from typing import Any

from router.namespace import DEFAULT
from router.state import AppState
from schemas.api.protocol import Handler
from schemas.errors import BadRequestException, ForbiddenException
from schemas.keys import split_registry
from schemas.paging import page
from schemas.services import store
from schemas.store import AWS_EVENTS, BUILTIN_REGISTRIES, Record, registry_not_found

__all__ = ["OPERATIONS", "check_registry_name", "read_only"]

_NAME = re.compile(r"[.\-_A-Za-z0-9@]{1,64}")
_FIELDS = ("RegistryArn", "RegistryName", "Description", "Tags")
_SUMMARY_FIELDS = ("RegistryArn", "RegistryName", "Tags")


def check_registry_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise BadRequestException(
            f"Invalid registry name {name!r}: use 1 to 64 letters, digits and the characters . - _ @."
        )
    if split_registry(name, DEFAULT)[1] != name:  # our choice: the key layout's namespaced form (schemas.keys)
        raise BadRequestException(
            f"Invalid registry name {name!r}: a name of the form ACCOUNT@REGION@NAME is reserved (it names a "
            "registry of that account and region in Switchboard's key layout)."
        )


def read_only(name: str) -> ForbiddenException:
    return ForbiddenException(f"Registry {name} is a read-only registry managed by the service.")


def pick(record: Record, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: record[name] for name in fields if record.get(name) is not None}


async def create_registry(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    name: str = params["RegistryName"]
    if name in BUILTIN_REGISTRIES:
        raise read_only(name)
    check_registry_name(name)
    record = await store(state).create_registry(name, params.get("Description"), params.get("Tags") or {})
    return pick(record, _FIELDS)


async def describe_registry(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    record = await store(state).get_registry(params["RegistryName"])
    if record is None:
        raise registry_not_found(params["RegistryName"])
    return pick(record, _FIELDS)


async def update_registry(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    name: str = params["RegistryName"]
    if name in BUILTIN_REGISTRIES:
        raise read_only(name)
    description = params.get("Description")
    record = await store(state).update_registry(name, lambda current: {**current, "Description": description})
    return pick(record, _FIELDS)


async def delete_registry(state: AppState, params: dict[str, Any]) -> None:
    name: str = params["RegistryName"]
    if name in BUILTIN_REGISTRIES:
        raise read_only(name)
    await store(state).delete_registry(name)


async def list_registries(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    scope = params.get("Scope")
    if scope not in (None, "Local", "AWS"):
        raise BadRequestException(f"Invalid scope {scope!r}: use Local or AWS.")
    prefix = params.get("RegistryNamePrefix") or ""
    records = [
        record
        for record in await store(state).all_registries()
        if record["RegistryName"].startswith(prefix)
        and (scope is None or (record["RegistryName"] == AWS_EVENTS) == (scope == "AWS"))
    ]
    chosen, token = page(records, lambda record: str(record["RegistryName"]), params)
    return {"Registries": [pick(record, _SUMMARY_FIELDS) for record in chosen], "NextToken": token}


OPERATIONS: dict[str, Handler] = {
    "CreateRegistry": create_registry,
    "DescribeRegistry": describe_registry,
    "UpdateRegistry": update_registry,
    "DeleteRegistry": delete_registry,
    "ListRegistries": list_registries,
}
