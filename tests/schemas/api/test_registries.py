"""Registries through the real boto3 `schemas` client on uvicorn and redis-server: the CRUD cycle, scope, prefix
and paging, the read-only built-ins, every error's status and code, and the keys left behind."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import sync_client

pytestmark = pytest.mark.integration

ARN = "arn:aws:schemas:us-east-1:123456789012:registry/"


def error_of(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def test_create_describe_update_delete(schemas: Any, redis_url: str) -> None:
    created = schemas.create_registry(RegistryName="orders", Description="Order events", Tags={"team": "shop"})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert {k: created[k] for k in ("RegistryName", "RegistryArn", "Description", "Tags")} == {
        "RegistryName": "orders",
        "RegistryArn": ARN + "orders",
        "Description": "Order events",
        "Tags": {"team": "shop"},
    }
    described = schemas.describe_registry(RegistryName="orders")
    assert described["Description"] == "Order events"
    updated = schemas.update_registry(RegistryName="orders", Description="All order events")
    assert updated["Description"] == "All order events"
    assert schemas.describe_registry(RegistryName="orders")["Description"] == "All order events"
    schemas.create_schema(RegistryName="orders", SchemaName="s", Type="JSONSchemaDraft4", Content='{"type":"object"}')
    deleted = schemas.delete_registry(RegistryName="orders")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error_of(schemas.describe_registry, RegistryName="orders")[:2] == (404, "NotFoundException")
    left = sorted([k.decode() for k in sync_client(redis_url).scan_iter(match="sb:{registry:orders}*")])
    assert left == []


def test_built_in_registries_exist_and_are_read_only(schemas: Any, redis_url: str) -> None:
    names = [r["RegistryName"] for r in schemas.list_registries()["Registries"]]
    assert names == ["aws.events", "discovered-schemas"]
    for name in ("aws.events", "discovered-schemas"):
        assert schemas.describe_registry(RegistryName=name)["RegistryArn"] == ARN + name
        assert error_of(schemas.create_registry, RegistryName=name)[:2] == (403, "ForbiddenException")
        assert error_of(schemas.update_registry, RegistryName=name, Description="x")[:2] == (403, "ForbiddenException")
        assert error_of(schemas.delete_registry, RegistryName=name)[:2] == (403, "ForbiddenException")
        status, code, message = error_of(
            schemas.create_schema, RegistryName=name, SchemaName="s", Type="JSONSchemaDraft4", Content="{}"
        )
        assert (status, code) == (403, "ForbiddenException")
        assert message == f"Registry {name} is a read-only registry managed by the service."
    # they are stored only once something is written to them: starting the router writes no schema key
    assert list(sync_client(redis_url).scan_iter(match="sb:{registry:*")) == []
    assert list(sync_client(redis_url).scan_iter(match="sb:{schemas}*")) == []
    schemas.tag_resource(ResourceArn=ARN + "aws.events", Tags={"k": "v"})
    assert schemas.describe_registry(RegistryName="aws.events")["Tags"] == {"k": "v"}
    assert [r["RegistryName"] for r in schemas.list_registries()["Registries"]] == names


def test_list_by_scope_prefix_and_pages(schemas: Any) -> None:
    for index in range(5):
        schemas.create_registry(RegistryName=f"team-{index}")
    schemas.create_registry(RegistryName="other")
    local = [r["RegistryName"] for r in schemas.list_registries(Scope="Local")["Registries"]]
    assert local == ["discovered-schemas", "other", "team-0", "team-1", "team-2", "team-3", "team-4"]
    assert [r["RegistryName"] for r in schemas.list_registries(Scope="AWS")["Registries"]] == ["aws.events"]
    pages = schemas.get_paginator("list_registries").paginate(
        RegistryNamePrefix="team-", PaginationConfig={"PageSize": 2}
    )
    seen = [[r["RegistryName"] for r in p["Registries"]] for p in pages]
    assert seen == [["team-0", "team-1"], ["team-2", "team-3"], ["team-4"]]


def test_errors(schemas: Any) -> None:
    schemas.create_registry(RegistryName="orders")
    assert error_of(schemas.create_registry, RegistryName="orders") == (
        409,
        "ConflictException",
        "Registry with name orders already exists.",
    )
    assert error_of(schemas.describe_registry, RegistryName="missing") == (
        404,
        "NotFoundException",
        "Registry with name missing does not exist.",
    )
    assert error_of(schemas.update_registry, RegistryName="missing")[:2] == (404, "NotFoundException")
    assert error_of(schemas.delete_registry, RegistryName="missing")[:2] == (404, "NotFoundException")
    status, code, message = error_of(schemas.create_registry, RegistryName="bad name!")
    assert (status, code) == (400, "BadRequestException")
    assert "Invalid registry name 'bad name!'" in message
    assert error_of(schemas.list_registries, Scope="Everything")[:2] == (400, "BadRequestException")
    assert error_of(schemas.list_registries, Limit=101)[:2] == (400, "BadRequestException")
    assert error_of(schemas.list_registries, NextToken="garbage")[:2] == (400, "BadRequestException")


def test_redis_failure_is_a_503_service_unavailable(schemas_server: Any, schemas: Any) -> None:
    import redis.asyncio as aioredis

    from schemas.keys import SchemaKeys
    from schemas.services import EXTRAS_KEY
    from schemas.store import RegistryStore
    from tests.conftest import free_port

    state = schemas_server.server.config.app.state.switchboard
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    state.extras[EXTRAS_KEY] = RegistryStore(dead, SchemaKeys.of(state.keys), state.keys)
    status, code, message = error_of(schemas.list_registries)
    assert (status, code) == (503, "ServiceUnavailableException")
    assert message == "Storage is unavailable. Retry the request."  # router.faults: never the Redis address
