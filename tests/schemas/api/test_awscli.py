"""The aws CLI (`aws schemas ... --endpoint-url`) against a real server: create a registry and a schema, list them
(auto-paginated), describe a version, and an error's exit status and message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

AWS = Path(sys.executable).parent / "aws"


def aws(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_MAX_ATTEMPTS": "1",
    }
    command = [str(AWS), "schemas", *args, "--endpoint-url", server.url, "--output", "json"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


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
