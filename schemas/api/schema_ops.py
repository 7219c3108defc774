"""Schema operations: CreateSchema, DescribeSchema, UpdateSchema, DeleteSchema, DeleteSchemaVersion, ListSchemas,
ListSchemaVersions, SearchSchemas and ExportSchema.

Versions are numbered `1`, `2`, ... and never reused. UpdateSchema makes a new version only when `Content` (or
`Type`) differs from the latest version; a description-only update, or a repeat of the last `ClientTokenId`, makes
none. Deleting the latest version makes the previous one the latest; the only version cannot be deleted (delete
the schema instead). `aws.events` is read-only; in `discovered-schemas` schemas are written by discovery only, but
users may delete them or their versions, as on AWS.

SearchSchemas matches every keyword (case-insensitive, whitespace-separated) against the schema name.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from router.state import AppState
from schemas.api.protocol import Handler
from schemas.api.registries import pick, read_only
from schemas.content import JSON_SCHEMA_DRAFT4, parse_content, to_draft4
from schemas.errors import BadRequestException, ConflictException, NotFoundException
from schemas.paging import page
from schemas.services import store
from schemas.store import AWS_EVENTS, DISCOVERED, Record, now_s, registry_not_found, schema_not_found

__all__ = [
    "OPERATIONS",
    "content_digest",
    "existing_schema",
    "new_schema_record",
    "new_version",
    "schema_version",
]

MAX_SCHEMA_NAME = 385
_SCHEMA_FIELDS = ("Description", "LastModified", "SchemaArn", "SchemaName", "Tags", "Type")
_SUMMARY_FIELDS = ("LastModified", "SchemaArn", "SchemaName", "Tags", "VersionCount")


def version_not_found(name: str, version: str) -> NotFoundException:
    return NotFoundException(f"Schema {name} has no version {version}.")


def new_schema_record(
    arn: str, name: str, schema_type: str, *, description: str | None, tags: dict[str, str], at_s: float
) -> Record:
    return {
        "SchemaName": name,
        "SchemaArn": arn,
        "Type": schema_type,
        "Description": description,
        "Tags": tags,
        "LatestVersion": 1,
        "LatestDigest": None,
        "NextVersion": 2,
        "VersionCount": 1,
        "CreatedAt": at_s,
        "LastModified": at_s,
    }


def content_digest(schema_type: str, content: str) -> str:
    """Identifies a version's document: an update with the same type and content makes no new version."""
    return hashlib.sha256(f"{schema_type}\n{content}".encode()).hexdigest()


def new_version(version: int, schema_type: str, content: str, at_s: float) -> Record:
    return {
        "SchemaVersion": str(version),
        "Type": schema_type,
        "Content": content,
        "VersionCreatedDate": at_s,
        "Digest": content_digest(schema_type, content),
    }


def _shown(record: Record, version: Record) -> dict[str, Any]:
    out = pick(record, _SCHEMA_FIELDS)
    out.update(SchemaVersion=version["SchemaVersion"], Type=version["Type"])
    out["VersionCreatedDate"] = version["VersionCreatedDate"]
    return out


async def _registry(state: AppState, name: str) -> None:
    if await store(state).get_registry(name) is None:
        raise registry_not_found(name)


def _writable(registry: str) -> None:
    if registry in (AWS_EVENTS, DISCOVERED):
        raise read_only(registry)


def _check_name(name: str) -> None:
    if not 1 <= len(name) <= MAX_SCHEMA_NAME:
        raise BadRequestException(f"Schema names have 1 to {MAX_SCHEMA_NAME} characters.")


async def create_schema(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    registry: str = params["RegistryName"]
    name: str = params["SchemaName"]
    await _registry(state, registry)
    _writable(registry)
    _check_name(name)
    parse_content(params["Type"], params["Content"])
    at_s = now_s()
    arn = store(state).arns.schema(registry, name)
    record = new_schema_record(
        arn, name, params["Type"], description=params.get("Description"), tags=params.get("Tags") or {}, at_s=at_s
    )
    version = new_version(1, params["Type"], params["Content"], at_s)
    record["LatestDigest"] = version["Digest"]

    def create(current: Record | None) -> tuple[Record, dict[str, Record | None]]:
        if current is not None:
            raise ConflictException(f"Schema with name {name} already exists in registry {registry}.")
        return record, {"1": version}

    await store(state).change_schema(registry, name, create)
    return _shown(record, version)


async def existing_schema(state: AppState, registry: str, name: str) -> Record:
    record = await store(state).get_schema(registry, name)
    if record is None:
        await _registry(state, registry)
        raise schema_not_found(registry, name)
    return record


async def schema_version(state: AppState, registry: str, record: Record, version: str | None) -> Record:
    wanted = version if version is not None else str(record["LatestVersion"])
    found = await store(state).get_version(registry, record["SchemaName"], wanted)
    if found is None:
        raise version_not_found(record["SchemaName"], wanted)
    return found


async def describe_schema(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    registry: str = params["RegistryName"]
    record = await existing_schema(state, registry, params["SchemaName"])
    version = await schema_version(state, registry, record, params.get("SchemaVersion"))
    return {**_shown(record, version), "Content": version["Content"]}


async def update_schema(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    registry: str = params["RegistryName"]
    name: str = params["SchemaName"]
    _writable(registry)
    await existing_schema(state, registry, name)
    content = params.get("Content")
    token = params.get("ClientTokenId")
    if content is None and "Type" in params:
        raise BadRequestException("Type can only be changed together with Content.")

    def update(current: Record | None) -> tuple[Record, dict[str, Record | None]]:
        if current is None:
            raise schema_not_found(registry, name)
        if token and current.get("ClientTokenId") == token:
            return current, {}  # a retried request: no second change
        at_s = now_s()
        new = {**current, "LastModified": at_s}
        if "Description" in params:
            new["Description"] = params["Description"]
        if token:
            new["ClientTokenId"] = token
        versions: dict[str, Record | None] = {}
        if content is not None:
            schema_type = params.get("Type") or current["Type"]
            parse_content(schema_type, content)
            if content_digest(schema_type, content) != current.get("LatestDigest"):
                number = int(current["NextVersion"])
                made = new_version(number, schema_type, content, at_s)
                versions[str(number)] = made
                new.update(LatestVersion=number, NextVersion=number + 1, Type=schema_type)
                new.update(VersionCount=int(current["VersionCount"]) + 1, LatestDigest=made["Digest"])
        return new, versions

    changed = await store(state).change_schema(registry, name, update)
    assert changed is not None
    return _shown(changed, await schema_version(state, registry, changed, None))


async def delete_schema(state: AppState, params: dict[str, Any]) -> None:
    registry: str = params["RegistryName"]
    name: str = params["SchemaName"]
    if registry == AWS_EVENTS:
        raise read_only(registry)
    await existing_schema(state, registry, name)

    def delete(current: Record | None) -> tuple[None, dict[str, Record | None]]:
        if current is None:
            raise schema_not_found(registry, name)
        return None, {}

    await store(state).change_schema(registry, name, delete)


async def delete_schema_version(state: AppState, params: dict[str, Any]) -> None:
    registry: str = params["RegistryName"]
    name: str = params["SchemaName"]
    version: str = params["SchemaVersion"]
    if registry == AWS_EVENTS:
        raise read_only(registry)
    await existing_schema(state, registry, name)
    stored = await store(state).all_versions(registry, name)
    remaining = [v["SchemaVersion"] for v in stored]
    digests = {v["SchemaVersion"]: v.get("Digest") for v in stored}
    if version not in remaining:
        raise version_not_found(name, version)
    if len(remaining) == 1:
        raise BadRequestException(f"Version {version} is the only version of schema {name}: delete the schema instead.")
    others = [int(v) for v in remaining if v != version]

    def drop(current: Record | None) -> tuple[Record, dict[str, Record | None]]:
        if current is None:
            raise schema_not_found(registry, name)
        latest = max(others)
        new = {**current, "LatestVersion": latest, "VersionCount": len(others), "LastModified": now_s()}
        if int(version) == current["LatestVersion"]:
            new["LatestDigest"] = digests.get(str(latest))
        return new, {version: None}

    await store(state).change_schema(registry, name, drop)


async def list_schemas(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    registry: str = params["RegistryName"]
    await _registry(state, registry)
    prefix = params.get("SchemaNamePrefix") or ""
    records = [r for r in await store(state).all_schemas(registry) if r["SchemaName"].startswith(prefix)]
    chosen, token = page(records, lambda record: str(record["SchemaName"]), params)
    return {"Schemas": [pick(record, _SUMMARY_FIELDS) for record in chosen], "NextToken": token}


async def list_schema_versions(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    registry: str = params["RegistryName"]
    record = await existing_schema(state, registry, params["SchemaName"])
    versions = await store(state).all_versions(registry, record["SchemaName"])
    chosen, token = page(versions, lambda version: f"{int(version['SchemaVersion']):012d}", params)
    summaries = [
        {
            "SchemaArn": record["SchemaArn"],
            "SchemaName": record["SchemaName"],
            "SchemaVersion": version["SchemaVersion"],
            "Type": version["Type"],
        }
        for version in chosen
    ]
    return {"SchemaVersions": summaries, "NextToken": token}


async def search_schemas(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    registry: str = params["RegistryName"]
    await _registry(state, registry)
    keywords = [word.lower() for word in params["Keywords"].split()]
    records = [
        r for r in await store(state).all_schemas(registry) if all(word in r["SchemaName"].lower() for word in keywords)
    ]
    chosen, token = page(records, lambda record: str(record["SchemaName"]), params)
    summaries = []
    for record in chosen:
        versions = await store(state).all_versions(registry, record["SchemaName"])
        summaries.append(
            {
                "RegistryName": registry,
                "SchemaArn": record["SchemaArn"],
                "SchemaName": record["SchemaName"],
                "SchemaVersions": [
                    {"CreatedDate": v["VersionCreatedDate"], "SchemaVersion": v["SchemaVersion"], "Type": v["Type"]}
                    for v in versions
                ],
            }
        )
    return {"Schemas": summaries, "NextToken": token}


async def export_schema(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    registry: str = params["RegistryName"]
    if params["Type"] != JSON_SCHEMA_DRAFT4:
        raise BadRequestException(f"Export type {params['Type']} is not supported: use {JSON_SCHEMA_DRAFT4}.")
    record = await existing_schema(state, registry, params["SchemaName"])
    version = await schema_version(state, registry, record, params.get("SchemaVersion"))
    document = to_draft4(version["Type"], orjson.loads(version["Content"]))
    return {
        "Content": orjson.dumps(document).decode(),
        "SchemaArn": record["SchemaArn"],
        "SchemaName": record["SchemaName"],
        "SchemaVersion": version["SchemaVersion"],
        "Type": JSON_SCHEMA_DRAFT4,
    }


OPERATIONS: dict[str, Handler] = {
    "CreateSchema": create_schema,
    "DescribeSchema": describe_schema,
    "UpdateSchema": update_schema,
    "DeleteSchema": delete_schema,
    "DeleteSchemaVersion": delete_schema_version,
    "ListSchemas": list_schemas,
    "ListSchemaVersions": list_schema_versions,
    "SearchSchemas": search_schemas,
    "ExportSchema": export_schema,
}
