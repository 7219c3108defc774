"""The EventBridge-to-SQS flow end to end, with real boto3 `events` and `sqs` clients against a real uvicorn and
redis-server: a message a rule delivered is the message ReceiveMessage returns; queues created by a delivery are
listed; FIFO targets keep their MessageGroupId; dead-letter messages carry their attributes; consumers of the
stream and SQS consumers coexist; `switchboard queue read` still reads the queue; the keys left behind."""

from __future__ import annotations

import io
import json
from typing import Any

import orjson
import pytest

from router.queue_cli import read_command
from tests.conftest import free_port, sync_client
from tests.router.sqs.conftest import error_of
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
PATTERN = json.dumps({"source": ["shop"]})


def put(events_client: Any, detail: dict[str, Any]) -> str:
    result = events_client.put_events(
        Entries=[{"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps(detail)}]
    )
    assert result["FailedEntryCount"] == 0
    event_id: str = result["Entries"][0]["EventId"]
    return event_id


def test_rule_to_queue_to_receive_message(events_client: Any, sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events_client.put_rule(Name="orders", EventPattern=PATTERN)
    events_client.put_targets(Rule="orders", Targets=[{"Id": "q", "Arn": arn}])
    event_id = put(events_client, {"order": 1})
    [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10, AttributeNames=["All"])["Messages"]
    event = json.loads(message["Body"])
    assert (event["id"], event["source"], event["detail"]) == (event_id, "shop", {"order": 1})
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (
        "0",
        "0",
    )


def test_queue_created_by_a_delivery_is_listed_and_readable(events_client: Any, sqs: Any, redis_url: str) -> None:
    events_client.put_rule(Name="orders", EventPattern=PATTERN)
    events_client.put_targets(
        Rule="orders",
        Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:auto", "InputPath": "$.detail"}],
    )
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="auto")
    put(events_client, {"n": 1})
    client: Any = sync_client(redis_url)
    eventually_sync(lambda: client.exists("sb:{queue:auto}:messages"), what="the first delivery")
    url = sqs.get_queue_url(QueueName="auto")["QueueUrl"]
    assert url.endswith(f"/{ACCOUNT}/auto")
    assert url in sqs.list_queues()["QueueUrls"]
    [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    assert json.loads(message["Body"]) == {"n": 1}
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attributes == {"VisibilityTimeout": "30"}


def test_fifo_target_keeps_its_message_group(events_client: Any, sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    events_client.put_rule(Name="orders", EventPattern=PATTERN)
    events_client.put_targets(
        Rule="orders",
        Targets=[
            {
                "Id": "q",
                "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders.fifo",
                "SqsParameters": {"MessageGroupId": "shop-orders"},
            }
        ],
    )
    ids = [put(events_client, {"n": n}) for n in range(3)]
    received: list[dict[str, Any]] = []

    def receive_all() -> bool:
        batch = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10, AttributeNames=["All"])
        for message in batch.get("Messages", []):
            received.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(received) >= 3

    eventually_sync(receive_all, what="the three deliveries")
    assert [json.loads(m["Body"])["id"] for m in received] == ids
    assert {m["Attributes"]["MessageGroupId"] for m in received} == {"shop-orders"}
    assert all(m["Attributes"]["MessageDeduplicationId"].startswith(i) for m, i in zip(received, ids, strict=True))


def test_dead_letter_messages_carry_their_attributes(events_client: Any, sqs: Any, redis_url: str) -> None:
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:dead"
    events_client.put_rule(Name="orders", EventPattern=PATTERN)
    target_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:nowhere"
    sync_client(redis_url).hset("sb:{meta}:functions", "nowhere", f"http://127.0.0.1:{free_port()}/")
    events_client.put_targets(
        Rule="orders",
        Targets=[
            {
                "Id": "f",
                "Arn": target_arn,
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": {"MaximumRetryAttempts": 0},
            }
        ],
    )
    event_id = put(events_client, {"n": 1})
    [message] = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=15, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"])["id"] == event_id
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert {k: attributes[k] for k in ("RULE_ARN", "TARGET_ARN", "ERROR_CODE")} == {
        "RULE_ARN": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/orders",
        "TARGET_ARN": target_arn,
        "ERROR_CODE": "CONNECTION_ERROR",
    }
    assert {v["DataType"] for v in message["MessageAttributes"].values()} == {"String"}
    assert len(message["MD5OfMessageAttributes"]) == 32


def test_stream_consumers_and_sqs_consumers_coexist(sqs: Any, redis_url: str) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    client: Any = sync_client(redis_url)
    key = "sb:{queue:orders}:messages"
    client.xgroup_create(key, "workers", id="0", mkstream=True)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "a"}, {"Id": "b", "MessageBody": "b"}])
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in messages) == ["a", "b"]
    for message in messages:  # SQS is done with both; the group has read neither: the stream keeps them
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert client.xlen(key) == 2
    [(_, entries)] = client.xreadgroup("workers", "w1", {key: ">"}, count=10)
    assert [fields[b"body"] for _, fields in entries] == [b"a", b"b"]
    client.xack(key, "workers", *[entry_id for entry_id, _ in entries])
    client.xdel(key, *[entry_id for entry_id, _ in entries])
    # the other order: the group reads and acknowledges first, then SQS's delete removes the entry
    sqs.send_message(QueueUrl=url, MessageBody="c")
    [(_, [(entry_id, _fields)])] = client.xreadgroup("workers", "w1", {key: ">"}, count=10)
    client.xack(key, "workers", entry_id)
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert client.xlen(key) == 1
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert client.xlen(key) == 0


def test_queue_read_shows_sqs_messages(sqs: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sent = sqs.send_message(
        QueueUrl=url, MessageBody='{"k": 1}', MessageAttributes={"a": {"DataType": "String", "StringValue": "b"}}
    )
    monkeypatch.setenv("REDIS_URL", redis_url)
    out = io.StringIO()
    assert read_command("orders", 10, None, out=out) == 0
    [line] = out.getvalue().splitlines()
    shown = orjson.loads(line)
    assert (shown["message_id"], shown["body"], shown["attributes"]) == (sent["MessageId"], {"k": 1}, {"a": "b"})


def test_keys_left_behind(sqs: Any, redis_url: str) -> None:
    url = sqs.create_queue(QueueName="orders", tags={"t": "v"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    client: Any = sync_client(redis_url)
    assert {k.decode() for k in list(client.scan_iter(match="sb:{queue:orders}:*"))} == {
        "sb:{queue:orders}:messages",
        "sb:{queue:orders}:attributes",
        "sb:{queue:orders}:tags",
        "sb:{queue:orders}:sqs",
        "sb:{queue:orders}:invisible",
        "sb:{queue:orders}:receipts",
    }
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert {k.decode() for k in list(client.scan_iter(match="sb:{queue:orders}:*"))} == {
        "sb:{queue:orders}:messages",
        "sb:{queue:orders}:attributes",
        "sb:{queue:orders}:tags",
        "sb:{queue:orders}:sqs",
    }
    assert client.xlen("sb:{queue:orders}:messages") == 0
    assert client.hget("sb:{queue:orders}:sqs", "cursor") is not None
    assert client.zrange("sb:{meta}:queues", 0, -1) == [b"orders"]


def test_unknown_sqs_target(sqs: Any, server: Any) -> None:
    import httpx

    response = httpx.post(
        server.url,
        content=b"{}",
        headers={"X-Amz-Target": "AmazonSQS.Nope", "Content-Type": "application/x-amz-json-1.0"},
    )
    assert response.status_code == 400
    assert response.headers["x-amzn-query-error"] == "UnknownOperationException;Sender"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as raised:
        sqs.send_message(QueueUrl="not a url", MessageBody="x")
    assert error_of(raised)[0] == "AWS.SimpleQueueService.NonExistentQueue"


def test_query_protocol_is_refused_clearly(server: Any) -> None:
    import httpx

    auth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0"
    response = httpx.post(
        server.url,
        content=b"Action=ListQueues&Version=2012-11-05",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Authorization": auth},
    )
    assert response.status_code == 400
    assert "<Code>AWS.SimpleQueueService.UnsupportedOperation</Code>" in response.text
    assert "older query protocol (Action=ListQueues), which is not served" in response.text
