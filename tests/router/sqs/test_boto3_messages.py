"""Messages through a real boto3 `sqs` client against a real uvicorn and redis-server: send and receive with
attribute digests, long polling, visibility timeouts and redelivery, batches with partial failures, redrive to a
dead-letter queue, delays, PurgeQueue, and SQS's exact errors."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.router.conftest import ServerThread
from tests.router.sqs.conftest import error_of
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return tuple(int(attributes[n]) for n in names)  # type: ignore[return-value]


def test_send_receive_delete_with_attributes(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    attributes = {
        "General": {"DataType": "String", "StringValue": "Kenobi"},
        "Hello": {"DataType": "String", "StringValue": "There"},
        "Help.Me": {"DataType": "String", "StringValue": "Me"},
        "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01raw"},
        "Count": {"DataType": "Number", "StringValue": "42"},
    }
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="msg",
        MessageAttributes=attributes,
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}},
    )
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"msg").hexdigest()
    assert len(sent["MD5OfMessageAttributes"]) == 32
    assert len(sent["MD5OfMessageSystemAttributes"]) == 32
    received = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])
    [message] = received["Messages"]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "msg"
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["MessageAttributes"]["Blob"] == {"DataType": "Binary", "BinaryValue": b"\x00\x01raw"}
    assert message["MessageAttributes"]["Count"] == {"DataType": "Number", "StringValue": "42"}
    system = message["Attributes"]
    assert system["ApproximateReceiveCount"] == "1"
    assert system["AWSTraceHeader"] == "Root=1-abc"
    assert system["SenderId"] == "123456789012"
    assert abs(int(system["SentTimestamp"]) - time.time() * 1000) < 60_000
    assert int(system["ApproximateFirstReceiveTimestamp"]) >= int(system["SentTimestamp"])
    only = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    assert only == {"ResponseMetadata": only["ResponseMetadata"]}  # in flight: nothing
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])  # deleting twice is fine, as on SQS
    assert counts(sqs, url) == (0, 0, 0)


def test_filtered_attributes_get_their_own_digest(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="msg",
        MessageAttributes={n: {"DataType": "String", "StringValue": v} for n, v in [("Hello", "There"), ("Foo", "x")]},
    )
    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["Hello"], VisibilityTimeout=0)["Messages"]
    assert message["MessageAttributes"] == {"Hello": {"DataType": "String", "StringValue": "There"}}
    assert message["MD5OfMessageAttributes"] == "a311262e065454b75da111d535b8dacd"  # AWS's digest for Hello=There
    [bare] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert "MessageAttributes" not in bare
    assert "Attributes" not in bare


def test_long_poll_returns_as_soon_as_a_message_arrives(sqs: Any, server: ServerThread) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    app: Any = server.server.config.app
    waiters = app.state.switchboard.extras["sqs_waiters"]
    result: dict[str, Any] = {}

    def receive() -> None:
        result["response"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        result["at"] = time.monotonic()

    thread = threading.Thread(target=receive)
    thread.start()
    eventually_sync(lambda: waiters.waiting("orders") == 1, what="the receive waiting on the queue")
    sent_at = time.monotonic()
    sqs.send_message(QueueUrl=url, MessageBody="late")
    thread.join(timeout=25)
    assert result["response"]["Messages"][0]["Body"] == "late"
    assert 0 < result["at"] - sent_at < 0.5


def test_long_poll_ends_at_its_deadline_and_empty_receive_is_immediate(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    assert time.monotonic() - started < 0.5
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    assert 2.0 <= time.monotonic() - started < 3.5


def test_visibility_timeout_expiry_redelivers_with_a_new_handle(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    [first] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1, AttributeNames=["All"])["Messages"]
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert counts(sqs, url) == (0, 1, 0)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    [second] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, AttributeNames=["All"])["Messages"]
    assert second["MessageId"] == first["MessageId"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert (
        second["Attributes"]["ApproximateFirstReceiveTimestamp"]
        == first["Attributes"]["ApproximateFirstReceiveTimestamp"]
    )
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])  # stale: accepted, not deleted
    assert counts(sqs, url) == (0, 1, 0)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    [third] = eventually_sync(lambda: sqs.receive_message(QueueUrl=url, AttributeNames=["All"]).get("Messages"))
    assert third["Attributes"]["ApproximateReceiveCount"] == "3"
    with pytest.raises(ClientError) as raised:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=10)
    code, message, status = error_of(raised)
    assert (code, status) == ("InvalidParameterValue", 400)
    assert message.endswith("Reason: Message does not exist or is not available for visibility timeout change.")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    assert counts(sqs, url) == (0, 0, 0)


def test_delays(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    assert counts(sqs, url) == (0, 0, 1)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    started = time.monotonic()
    [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    assert message["Body"] == "later"
    assert time.monotonic() - started < 2.5
    slow = sqs.create_queue(QueueName="slow", Attributes={"DelaySeconds": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=slow, MessageBody="queue delay")
    assert "Messages" not in sqs.receive_message(QueueUrl=slow)
    assert sqs.receive_message(QueueUrl=slow, WaitTimeSeconds=10)["Messages"][0]["Body"] == "queue delay"


def test_batches_with_partial_failures(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders", Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    sent = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok-1", "MessageBody": "one"},
            {"Id": "too-big", "MessageBody": "x" * 1025},
            {
                "Id": "ok-2",
                "MessageBody": "two",
                "MessageAttributes": {"a": {"DataType": "String", "StringValue": "b"}},
            },
        ],
    )
    assert [s["Id"] for s in sent["Successful"]] == ["ok-1", "ok-2"]
    assert sent["Successful"][0]["MD5OfMessageBody"] == hashlib.md5(b"one").hexdigest()
    assert "MD5OfMessageAttributes" in sent["Successful"][1]
    assert sent["Failed"] == [
        {
            "Id": "too-big",
            "SenderFault": True,
            "Code": "InvalidParameterValue",
            "Message": "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.",
        }
    ]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in messages) == ["one", "two"]
    changed = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 60},
            {"Id": "b", "ReceiptHandle": "garbage", "VisibilityTimeout": 60},
        ],
    )
    assert changed["Successful"] == [{"Id": "a"}]
    assert changed["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "first", "ReceiptHandle": messages[0]["ReceiptHandle"]},
            {"Id": "second", "ReceiptHandle": messages[1]["ReceiptHandle"]},
            {"Id": "fake", "ReceiptHandle": "fake-receipt-handle"},
        ],
    )
    assert deleted["Successful"] == [{"Id": "first"}, {"Id": "second"}]
    assert deleted["Failed"] == [
        {
            "Id": "fake",
            "SenderFault": True,
            "Code": "ReceiptHandleIsInvalid",
            "Message": 'The input receipt handle "fake-receipt-handle" is not a valid receipt handle.',
        }
    ]
    assert counts(sqs, url) == (0, 0, 0)


def test_exact_errors(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest) as raised:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)])
    assert error_of(raised) == (
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "Maximum number of entries per request are 10. You have sent 11.",
        400,
    )
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": "h"} for i in range(11)])
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=url, MessageBody="x" * (1_048_576 + 1))
    assert error_of(raised) == (
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.",
        400,
    )
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid) as raised:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert error_of(raised) == (
        "ReceiptHandleIsInvalid",
        'The input receipt handle "not-a-handle" is not a valid receipt handle.',
        404,
    )
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct) as raised:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}])
    assert error_of(raised) == ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id a repeated.", 400)
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId) as raised:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "bad:id", "MessageBody": "x"}])
    assert error_of(raised)[0] == "AWS.SimpleQueueService.InvalidBatchEntryId"
    with pytest.raises(sqs.exceptions.EmptyBatchRequest) as raised:
        sqs.delete_message_batch(QueueUrl=url, Entries=[])
    assert error_of(raised) == (
        "AWS.SimpleQueueService.EmptyBatchRequest",
        "There should be at least one DeleteMessageBatchRequestEntry in the request.",
        400,
    )
    with pytest.raises(sqs.exceptions.BatchRequestTooLong) as raised:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * 150_000} for i in range(8)])
    assert error_of(raised) == (
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "Batch requests cannot be longer than 1048576 bytes. You have sent 1200000 bytes.",
        400,
    )
    with pytest.raises(ClientError) as raised:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert error_of(raised) == (
        "InvalidParameterValue",
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
        400,
    )
    with pytest.raises(sqs.exceptions.InvalidMessageContents):
        sqs.send_message(QueueUrl=url, MessageBody="bad \x00 char")


def test_redrive_to_a_dead_letter_queue(sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    url = sqs.create_queue(QueueName="orders", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    source_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sent = sqs.send_message(
        QueueUrl=url, MessageBody="poison", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}}
    )
    for attempt in ("1", "2"):
        [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, AttributeNames=["All"])["Messages"]
        assert message["Attributes"]["ApproximateReceiveCount"] == attempt
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # moved, not returned a third time
    assert counts(sqs, url) == (0, 0, 0)
    [dead] = sqs.receive_message(
        QueueUrl=dlq, AttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=5
    )["Messages"]
    assert (dead["MessageId"], dead["Body"]) == (sent["MessageId"], "poison")
    assert dead["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == source_arn
    assert dead["Attributes"]["ApproximateReceiveCount"] == "1"


def test_purge(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)])
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=60)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)
    assert counts(sqs, url) == (3, 2, 1)
    sqs.purge_queue(QueueUrl=url)
    assert counts(sqs, url) == (0, 0, 0)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress) as raised:
        sqs.purge_queue(QueueUrl=url)
    assert error_of(raised) == (
        "AWS.SimpleQueueService.PurgeQueueInProgress",
        "Only one PurgeQueue operation on orders is allowed every 60 seconds.",
        403,
    )
    sqs.send_message(QueueUrl=url, MessageBody="after")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "after"
