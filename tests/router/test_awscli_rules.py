"""The aws CLI (`.venv/bin/aws events ... --endpoint-url`) against a real server: put-rule, put-targets,
list-rules (auto-paginated: it must stop on the last page) and an error exit."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests import awscli
from tests.router.conftest import ServerThread
from tests.router.control_plane import ARN, PATTERN, control_server

pytestmark = pytest.mark.integration


@pytest.fixture
def server(redis_url: str) -> Iterator[ServerThread]:
    with control_server(redis_url) as srv:
        yield srv


def aws(server: ServerThread, *args: str) -> subprocess.CompletedProcess[str]:
    return awscli.aws(server.url, "events", *args)


def ok(server: ServerThread, *args: str) -> Any:
    return awscli.aws_ok(server.url, "events", *args)


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
