"""FIFO queues through a real boto3 `sqs` client: order per message group, one group in flight at a time,
deduplication within 5 minutes (explicit ids and content-based), and FIFO's own errors."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.router.sqs.conftest import error_of

pytestmark = pytest.mark.integration


def fifo(sqs: Any, name: str = "jobs.fifo", **attributes: str) -> str:
    url: str = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", **attributes})["QueueUrl"]
    return url


def send(sqs: Any, url: str, group: str, body: str) -> dict[str, Any]:
    result: dict[str, Any] = sqs.send_message(
        QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body
    )
    return result


def bodies(response: dict[str, Any]) -> list[str]:
    return [m["Body"] for m in response.get("Messages", [])]


def test_order_per_group_and_one_group_in_flight_at_a_time(sqs: Any) -> None:
    url = fifo(sqs)
    sequence = []
    for group, body in [("g1", "a1"), ("g2", "b1"), ("g1", "a2"), ("g1", "a3"), ("g2", "b2")]:
        sequence.append(int(send(sqs, url, group, body)["SequenceNumber"]))
    assert sequence == sorted(sequence)
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, AttributeNames=["All"])
    assert bodies(first) == ["a1", "a2"]
    assert first["Messages"][0]["Attributes"]["MessageGroupId"] == "g1"
    assert first["Messages"][0]["Attributes"]["MessageDeduplicationId"] == "a1"
    assert int(first["Messages"][0]["Attributes"]["SequenceNumber"]) == sequence[0]
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["b1", "b2"]  # g1 is locked
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == []  # both groups in flight
    for message in first["Messages"]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["a3"]


def test_expired_visibility_returns_the_group_head_first(sqs: Any) -> None:
    url = fifo(sqs)
    for body in ("m1", "m2"):
        send(sqs, url, "g", body)
    [m1] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
    assert m1["Body"] == "m1"
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MaxNumberOfMessages=10, AttributeNames=["All"])
    assert bodies(again) == ["m1", "m2"]
    assert again["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"
    with pytest.raises(ClientError) as raised:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m1["ReceiptHandle"])
    assert error_of(raised) == (
        "InvalidParameterValue",
        f"Value {m1['ReceiptHandle']} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.",
        400,
    )


def test_deduplication(sqs: Any) -> None:
    url = fifo(sqs)
    first = send(sqs, url, "g", "same")
    second = send(sqs, url, "g", "same")
    assert second["MessageId"] == first["MessageId"]
    assert second["SequenceNumber"] == first["SequenceNumber"]
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    send(sqs, url, "g", "same")  # still within 5 minutes: deduplicated after the delete too
    assert bodies(sqs.receive_message(QueueUrl=url)) == []
    content = fifo(sqs, "content.fifo", ContentBasedDeduplication="true")
    sqs.send_message(QueueUrl=content, MessageBody="body", MessageGroupId="g")
    sqs.send_message(QueueUrl=content, MessageBody="body", MessageGroupId="h")
    assert bodies(sqs.receive_message(QueueUrl=content, MaxNumberOfMessages=10)) == ["body"]


def test_fifo_errors(sqs: Any) -> None:
    url = fifo(sqs)
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert error_of(raised) == ("InvalidParameterValue", "The request must contain the parameter MessageGroupId.", 400)
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert error_of(raised)[1] == (
        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
    )
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d", DelaySeconds=2)
    assert error_of(raised)[1] == (
        "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for "
        "this queue type."
    )
    batch = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
            {"Id": "bad", "MessageBody": "y", "MessageDeduplicationId": "2"},
        ],
    )
    assert [s["Id"] for s in batch["Successful"]] == ["ok"]
    assert "SequenceNumber" in batch["Successful"][0]
    assert batch["Failed"][0]["Message"] == "The request must contain the parameter MessageGroupId."
