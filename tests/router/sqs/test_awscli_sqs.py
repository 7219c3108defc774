"""The real aws CLI against a real server: `aws sqs` reads what a rule delivered, and SQS errors read as on AWS."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import awscli
from tests.router.conftest import ServerThread

pytestmark = pytest.mark.integration


def aws(server: ServerThread, tmp_path: Path, service: str, *args: str) -> subprocess.CompletedProcess[str]:
    return awscli.aws(server.url, service, *args)


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_aws_sqs_receive_message_reads_a_delivered_event(server: ServerThread, tmp_path: Path) -> None:
    url = ok(aws(server, tmp_path, "sqs", "create-queue", "--queue-name", "orders"))["QueueUrl"]
    arn = "arn:aws:sqs:us-east-1:123456789012:orders"
    ok(aws(server, tmp_path, "events", "put-rule", "--name", "orders", "--event-pattern", '{"source": ["cli"]}'))
    ok(aws(server, tmp_path, "events", "put-targets", "--rule", "orders", "--targets", f"Id=q,Arn={arn}"))
    entries = json.dumps([{"Source": "cli", "DetailType": "t", "Detail": '{"n": 7}'}])
    event_id = ok(aws(server, tmp_path, "events", "put-events", "--entries", entries))["Entries"][0]["EventId"]
    received = ok(
        aws(
            server,
            tmp_path,
            "sqs",
            "receive-message",
            "--queue-url",
            url,
            "--wait-time-seconds",
            "10",
            "--attribute-names",
            "All",
        )
    )
    [message] = received["Messages"]
    assert json.loads(message["Body"])["id"] == event_id
    assert json.loads(message["Body"])["detail"] == {"n": 7}
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    ok(aws(server, tmp_path, "sqs", "delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"]))
    attributes = ok(
        aws(server, tmp_path, "sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
    )["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (
        "0",
        "0",
    )


def test_aws_sqs_errors(server: ServerThread, tmp_path: Path) -> None:
    missing = aws(server, tmp_path, "sqs", "get-queue-url", "--queue-name", "nope")
    assert missing.returncode != 0
    assert (
        "An error occurred (AWS.SimpleQueueService.NonExistentQueue) when calling the GetQueueUrl operation: "
        "The specified queue does not exist." in missing.stderr
    )
