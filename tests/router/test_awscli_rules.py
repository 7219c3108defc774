"""The aws CLI (`.venv/bin/aws events ... --endpoint-url`) against a real server: put-rule, put-targets,
list-rules (auto-paginated: it must stop on the last page) and an error exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.router.conftest import ServerThread
from tests.router.control_plane import ARN, PATTERN, control_server

pytestmark = pytest.mark.integration

AWS = Path(sys.executable).parent / "aws"


@pytest.fixture
def server(redis_url: str) -> Iterator[ServerThread]:
    with control_server(redis_url) as srv:
        yield srv


def aws(server: ServerThread, *args: str) -> subprocess.CompletedProcess[str]:
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
    command = [str(AWS), "events", *args, "--endpoint-url", server.url, "--output", "json"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def ok(server: ServerThread, *args: str) -> Any:
    result = aws(server, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_put_rule_targets_and_list_rules(server: ServerThread) -> None:
    created = ok(server, "put-rule", "--name", "orders", "--event-pattern", PATTERN, "--state", "DISABLED")
    assert created == {"RuleArn": f"{ARN}:rule/orders"}
    for i in range(4):
        ok(server, "put-rule", "--name", f"more-{i}", "--event-pattern", PATTERN)
    ok(server, "put-targets", "--rule", "orders", "--targets", "Id=q,Arn=arn:aws:sqs:us-east-1:123456789012:q")
    # --page-size makes the CLI walk several pages; it must stop at the last one
    listed = ok(server, "list-rules", "--page-size", "2")
    assert [rule["Name"] for rule in listed["Rules"]] == ["more-0", "more-1", "more-2", "more-3", "orders"]
    assert listed["Rules"][-1]["State"] == "DISABLED"
    targets = ok(server, "list-targets-by-rule", "--rule", "orders")
    assert targets["Targets"] == [{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"}]


def test_errors_exit_non_zero_with_aws_message(server: ServerThread) -> None:
    result = aws(server, "describe-rule", "--name", "nope")
    assert result.returncode != 0
    assert "ResourceNotFoundException" in result.stderr
    assert "Rule nope does not exist on EventBus default." in result.stderr
    result = aws(server, "put-rule", "--name", "bad", "--event-pattern", '{"source": []}')
    assert result.returncode != 0
    assert "InvalidEventPatternException" in result.stderr
    assert "Empty arrays are not allowed" in result.stderr
