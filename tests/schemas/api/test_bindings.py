"""Code bindings through the real boto3 client: PutCodeBinding answers 202 in progress, the CodeBindingExists
waiter sees it complete, and the zip's classes import (in a fresh interpreter) and round-trip an event."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.schemas.api.test_registries import error_of

pytestmark = pytest.mark.integration

NAME = "shop.orders@OrderCreated"
CONTENT = {
    "openapi": "3.0.0",
    "info": {"version": "1.0.0", "title": "OrderCreated"},
    "paths": {},
    "components": {
        "schemas": {
            "AWSEvent": {
                "type": "object",
                "required": [
                    "detail-type",
                    "resources",
                    "id",
                    "source",
                    "time",
                    "detail",
                    "region",
                    "version",
                    "account",
                ],
                "x-amazon-events-detail-type": "OrderCreated",
                "x-amazon-events-source": "shop.orders",
                "properties": {
                    "detail": {"$ref": "#/components/schemas/OrderCreated"},
                    "account": {"type": "string"},
                    "detail-type": {"type": "string"},
                    "id": {"type": "string"},
                    "region": {"type": "string"},
                    "resources": {"type": "array", "items": {"type": "string"}},
                    "source": {"type": "string"},
                    "time": {"type": "string", "format": "date-time"},
                    "version": {"type": "string"},
                },
            },
            "OrderCreated": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "total": {"type": "integer", "format": "int64"},
                    "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
                },
            },
            "Line": {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}},
        }
    },
}
EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "OrderCreated",
    "source": "shop.orders",
    "account": "123456789012",
    "time": "2026-12-01T10:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"id": "o-1", "total": 250, "lines": [{"sku": "A", "qty": 2}]},
}

ROUND_TRIP = """
import json, sys
from schema.shop.orders.ordercreated import AWSEvent, OrderCreated, marshall, unmarshall
event = json.loads(sys.argv[1])
parsed = unmarshall(event, AWSEvent)
assert isinstance(parsed.detail, OrderCreated), type(parsed.detail)
assert parsed.detail.lines[0].qty == 2
assert parsed.detail_type == "OrderCreated"
print(json.dumps(marshall(parsed)))
"""


def test_python_binding_round_trips_an_event(schemas: Any, tmp_path: Path) -> None:
    schemas.create_registry(RegistryName="orders")
    schemas.create_schema(RegistryName="orders", SchemaName=NAME, Type="OpenApi3", Content=json.dumps(CONTENT))
    put = schemas.put_code_binding(RegistryName="orders", SchemaName=NAME, Language="Python36")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (put["Status"], put["SchemaVersion"]) == ("CREATE_IN_PROGRESS", "1")
    waiter = schemas.get_waiter("code_binding_exists")
    waiter.wait(
        RegistryName="orders", SchemaName=NAME, Language="Python36", WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    described = schemas.describe_code_binding(RegistryName="orders", SchemaName=NAME, Language="Python36")
    assert (described["Status"], described["SchemaVersion"]) == ("CREATE_COMPLETE", "1")
    again = schemas.put_code_binding(RegistryName="orders", SchemaName=NAME, Language="Python36", SchemaVersion="1")
    assert again["Status"] == "CREATE_COMPLETE"  # no second generation
    body = schemas.get_code_binding_source(RegistryName="orders", SchemaName=NAME, Language="Python36")["Body"]
    with zipfile.ZipFile(io.BytesIO(body.read())) as archive:
        names = set(archive.namelist())
        assert {
            "schema/__init__.py",
            "schema/shop/orders/ordercreated/__init__.py",
            "schema/shop/orders/ordercreated/models.py",
            "schema/shop/orders/ordercreated/marshaller.py",
        } <= names
        archive.extractall(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, json.dumps(EVENT)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == EVENT


def test_binding_errors(schemas: Any) -> None:
    schemas.create_registry(RegistryName="orders")
    schemas.create_schema(RegistryName="orders", SchemaName=NAME, Type="OpenApi3", Content=json.dumps(CONTENT))
    for language in ("Java8", "TypeScript3", "Go1", "Cobol"):
        status, code, message = error_of(
            schemas.put_code_binding, RegistryName="orders", SchemaName=NAME, Language=language
        )
        assert (status, code) == (400, "BadRequestException")
        assert message.startswith(f"Language {language} is not supported")
    assert error_of(schemas.describe_code_binding, RegistryName="orders", SchemaName=NAME, Language="Python36") == (
        404,
        "NotFoundException",
        f"No Python36 code binding exists for schema {NAME} version 1.",
    )
    assert error_of(schemas.get_code_binding_source, RegistryName="orders", SchemaName=NAME, Language="Python36")[
        :2
    ] == (404, "NotFoundException")
    assert error_of(schemas.put_code_binding, RegistryName="orders", SchemaName="nope", Language="Python36")[:2] == (
        404,
        "NotFoundException",
    )
    assert error_of(
        schemas.put_code_binding, RegistryName="orders", SchemaName=NAME, Language="Python36", SchemaVersion="7"
    ) == (404, "NotFoundException", f"Schema {NAME} has no version 7.")
    from botocore.exceptions import WaiterError

    with pytest.raises(WaiterError):  # the waiter fails at once on NotFoundException, as its model says
        schemas.get_waiter("code_binding_exists").wait(
            RegistryName="orders", SchemaName=NAME, Language="Python36", SchemaVersion="1", WaiterConfig={"Delay": 1}
        )
