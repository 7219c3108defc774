"""Queue attributes: SQS's checks on CreateQueue and SetQueueAttributes, defaults, and the parsed QueueConfig."""

from __future__ import annotations

import pytest

from router.sqs.errors import InvalidAttributeName, InvalidAttributeValue, InvalidParameterValue
from router.sqs.queue_attributes import QueueConfig, check_attributes, queue_name_ok

DLQ = "arn:aws:sqs:us-east-1:123456789012:dead"


def test_values_are_normalised() -> None:
    assert check_attributes(
        {"VisibilityTimeout": "0045", "SqsManagedSseEnabled": "TRUE", "DelaySeconds": 5}, fifo=False, creating=True
    ) == {"VisibilityTimeout": "45", "SqsManagedSseEnabled": "true", "DelaySeconds": "5"}


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        ({"Nope": "1"}, InvalidAttributeName, "Unknown Attribute Nope."),
        ({"VisibilityTimeout": "43201"}, InvalidAttributeValue, "Invalid value for the parameter VisibilityTimeout."),
        ({"MaximumMessageSize": "1023"}, InvalidAttributeValue, "Invalid value for the parameter MaximumMessageSize."),
        ({"DelaySeconds": "x"}, InvalidAttributeValue, "Invalid value for the parameter DelaySeconds."),
        ({"ContentBasedDeduplication": "true"}, InvalidAttributeName, "Unknown Attribute ContentBasedDeduplication."),
        (
            {"RedrivePolicy": '{"deadLetterTargetArn": "dummy", "maxReceiveCount": 42}'},
            InvalidParameterValue,
            'Value {"deadLetterTargetArn": "dummy", "maxReceiveCount": 42} for parameter RedrivePolicy is invalid. '
            "Reason: Invalid value for deadLetterTargetArn.",
        ),
        (
            {"RedrivePolicy": f'{{"deadLetterTargetArn": "{DLQ}", "maxReceiveCount": 0}}'},
            InvalidParameterValue,
            "Reason: Invalid value for maxReceiveCount",
        ),
    ],
)
def test_refused(raw: dict[str, str], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        check_attributes(raw, fifo=False, creating=True)
    assert message in str(raised.value)


def test_fifo_queue_is_set_only_at_creation() -> None:
    assert check_attributes({"FifoQueue": "true"}, fifo=True, creating=True) == {"FifoQueue": "true"}
    with pytest.raises(InvalidAttributeName):
        check_attributes({"FifoQueue": "true"}, fifo=True, creating=False)


def test_config_defaults_and_redrive() -> None:
    plain = QueueConfig("orders", {})
    assert (plain.visibility_s, plain.delay_s, plain.retention_s, plain.max_message_bytes) == (30, 0, 345600, 1048576)
    assert plain.redrive is None
    assert "FifoQueue" not in plain.all_settable()
    fifo = QueueConfig("orders.fifo", {"RedrivePolicy": f'{{"deadLetterTargetArn": "{DLQ}", "maxReceiveCount": "3"}}'})
    assert fifo.fifo
    assert fifo.redrive == (DLQ, 3)  # the ARN: router.sqs.queues finds its queue, in its namespace
    assert fifo.all_settable()["DeduplicationScope"] == "queue"


@pytest.mark.parametrize(
    ("name", "ok"),
    [("a", True), ("a" * 80, True), ("a" * 81, False), ("q.fifo", True), ("a" * 75 + ".fifo", True), ("a b", False)],
)
def test_queue_names(name: str, ok: bool) -> None:
    assert queue_name_ok(name) is ok
