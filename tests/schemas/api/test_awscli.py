"""The aws CLI (`aws schemas ... --endpoint-url`) against a real server: create a registry and a schema, list them
(auto-paginated), describe a version, and an error's exit status and message."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests import awscli

pytestmark = pytest.mark.integration


def aws(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return awscli.aws(server.url, "schemas", *args)


def test_aws_cli_schemas(schemas_server: Any) -> None:
    assert aws(schemas_server, "create-registry", "--registry-name", "orders").returncode == 0
    content = json.dumps({"type": "object", "properties": {"id": {"type": "string"}}})
    for name in ("shop@OrderCreated", "shop@OrderShipped", "shop@Refund"):
        done = aws(
            schemas_server, "create-schema", "--registry-name", "orders", "--schema-name", name,
            "--type", "JSONSchemaDraft4", "--content", content,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    listed = aws(schemas_server, "list-schemas", "--registry-name", "orders", "--page-size", "2")
    assert listed.returncode == 0, listed.stderr
    names = [s["SchemaName"] for s in json.loads(listed.stdout)["Schemas"]]
    assert names == ["shop@OrderCreated", "shop@OrderShipped", "shop@Refund"]
    described = aws(
        schemas_server, "describe-schema", "--registry-name", "orders", "--schema-name", "shop@Refund",
        "--schema-version", "1",
    )  # fmt: skip
    assert json.loads(described.stdout)["Content"] == content
    missing = aws(schemas_server, "describe-registry", "--registry-name", "nope")
    assert missing.returncode == 255  # the aws CLI v1 exit status of a service error
    assert "An error occurred (NotFoundException) when calling the DescribeRegistry operation: " in missing.stderr
    assert "Registry with name nope does not exist." in missing.stderr
