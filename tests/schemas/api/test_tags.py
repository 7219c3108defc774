"""Tags on registries and schemas, and resource policies with revisions, through the real boto3 client."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.schemas.api.test_registries import error_of

pytestmark = pytest.mark.integration

POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "schemas:*"}]}
)


def test_tags_on_registries_and_schemas(schemas: Any) -> None:
    registry_arn = schemas.create_registry(RegistryName="orders", Tags={"a": "1"})["RegistryArn"]
    schema_arn = schemas.create_schema(
        RegistryName="orders", SchemaName="aws.partner/x@Y", Type="JSONSchemaDraft4", Content="{}"
    )["SchemaArn"]
    for arn, initial in ((registry_arn, {"a": "1"}), (schema_arn, {})):
        assert schemas.list_tags_for_resource(ResourceArn=arn)["Tags"] == initial
        assert (
            schemas.tag_resource(ResourceArn=arn, Tags={"b": "2", "c": "3"})["ResponseMetadata"]["HTTPStatusCode"]
            == 204
        )
        assert schemas.untag_resource(ResourceArn=arn, TagKeys=["c"])["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert schemas.list_tags_for_resource(ResourceArn=arn)["Tags"] == {**initial, "b": "2"}
    assert schemas.describe_schema(RegistryName="orders", SchemaName="aws.partner/x@Y")["Tags"] == {"b": "2"}
    assert schemas.describe_registry(RegistryName="orders")["Tags"] == {"a": "1", "b": "2"}


def test_tag_errors(schemas: Any) -> None:
    for arn in (
        "arn:aws:schemas:us-east-1:123456789012:registry/missing",
        "arn:aws:schemas:us-east-1:123456789012:schema/missing/s",
        "arn:aws:schemas:us-east-1:123456789012:discoverer/none",
        "arn:aws:schemas:eu-west-1:123456789012:registry/orders",
    ):
        assert error_of(schemas.list_tags_for_resource, ResourceArn=arn) == (
            404,
            "NotFoundException",
            f"Resource {arn} does not exist.",
        )
    arn = schemas.create_registry(RegistryName="orders")["RegistryArn"]
    too_many = {f"k{i}": "v" for i in range(51)}
    assert error_of(schemas.tag_resource, ResourceArn=arn, Tags=too_many)[:2] == (400, "BadRequestException")


def test_resource_policy_revisions(schemas: Any) -> None:
    schemas.create_registry(RegistryName="orders")
    assert error_of(schemas.get_resource_policy, RegistryName="orders") == (
        404,
        "NotFoundException",
        "Resource policy not found.",
    )
    first = schemas.put_resource_policy(RegistryName="orders", Policy=POLICY)
    assert json.loads(first["Policy"]) == json.loads(POLICY)
    got = schemas.get_resource_policy(RegistryName="orders")
    assert got["RevisionId"] == first["RevisionId"]
    second = schemas.put_resource_policy(RegistryName="orders", Policy=POLICY, RevisionId=first["RevisionId"])
    assert second["RevisionId"] != first["RevisionId"]
    status, code, _ = error_of(
        schemas.put_resource_policy, RegistryName="orders", Policy=POLICY, RevisionId=first["RevisionId"]
    )
    assert (status, code) == (412, "PreconditionFailedException")
    account = schemas.put_resource_policy(Policy=POLICY)
    assert schemas.get_resource_policy()["RevisionId"] == account["RevisionId"]
    assert schemas.delete_resource_policy(RegistryName="orders")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error_of(schemas.delete_resource_policy, RegistryName="orders")[:2] == (404, "NotFoundException")
    assert schemas.get_resource_policy()["RevisionId"] == account["RevisionId"]
    assert error_of(schemas.put_resource_policy, RegistryName="missing", Policy=POLICY)[:2] == (
        404,
        "NotFoundException",
    )
    assert error_of(schemas.put_resource_policy, RegistryName="orders", Policy='{"no": "statement"}')[:2] == (
        400,
        "BadRequestException",
    )
