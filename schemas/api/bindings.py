"""Code-binding operations: PutCodeBinding (202, generation in the background), DescribeCodeBinding and
GetCodeBindingSource (the zip as the raw body). The `CodeBindingExists` waiter polls DescribeCodeBinding until
`CREATE_COMPLETE`. See `schemas.bindings` for what is generated."""

from __future__ import annotations

from typing import Any

from router.state import AppState
from schemas.api.protocol import Handler
from schemas.api.schema_ops import existing_schema, schema_version
from schemas.bindings import COMPLETE, BindingService, binding_service, check_language, shown_status
from schemas.errors import NotFoundException
from schemas.services import store

__all__ = ["OPERATIONS"]

_FIELDS = ("CreationDate", "LastModified", "SchemaVersion")


def _shown(record: dict[str, Any]) -> dict[str, Any]:
    return {**{name: record[name] for name in _FIELDS}, "Status": shown_status(record)}


def _not_found(language: str, schema: str, version: str) -> NotFoundException:
    return NotFoundException(f"No {language} code binding exists for schema {schema} version {version}.")


async def put_code_binding(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    registry, name, language = params["RegistryName"], params["SchemaName"], params["Language"]
    check_language(language)
    record = await existing_schema(state, registry, name)
    version = await schema_version(state, registry, record, params.get("SchemaVersion"))
    return _shown(await binding_service(state).put(registry, name, version, language, store(state)))


async def _binding(state: AppState, params: dict[str, Any]) -> tuple[dict[str, Any], bytes | None, str]:
    registry, name, language = params["RegistryName"], params["SchemaName"], params["Language"]
    check_language(language)
    record = await existing_schema(state, registry, name)
    number = params.get("SchemaVersion") or str(record["LatestVersion"])
    binding, source = await store(state).get_binding(registry, name, BindingService.field(language, number))
    if binding is None:
        raise _not_found(language, name, number)
    return binding, source, number


async def describe_code_binding(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    binding, _, _ = await _binding(state, params)
    return _shown(binding)


async def get_code_binding_source(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    binding, source, number = await _binding(state, params)
    if shown_status(binding) != COMPLETE or source is None:
        raise NotFoundException(
            f"The {params['Language']} code binding for schema {params['SchemaName']} version {number} is not "
            f"ready (status {shown_status(binding)})."
        )
    return {"Body": source}


OPERATIONS: dict[str, Handler] = {
    "PutCodeBinding": put_code_binding,
    "DescribeCodeBinding": describe_code_binding,
    "GetCodeBindingSource": get_code_binding_source,
}
