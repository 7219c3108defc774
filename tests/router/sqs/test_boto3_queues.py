"""Queues through a real boto3 `sqs` client against a real uvicorn and redis-server: create (idempotent), URLs,
listing with prefix and paging, attributes, tags, delete, and SQS's exact errors for a queue that does not exist."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import sync_client
from tests.router.conftest import ServerThread
from tests.router.sqs.conftest import error_of

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"


def test_create_is_idempotent_and_the_url_follows_the_host(sqs: Any, server: ServerThread) -> None:
    url = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "20"})["QueueUrl"]
    assert url == f"{server.url}/{ACCOUNT}/orders"
    assert sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "20"})["QueueUrl"] == url
    assert sqs.create_queue(QueueName="orders")["QueueUrl"] == url
    with pytest.raises(sqs.exceptions.QueueNameExists) as raised:
        sqs.create_queue(QueueName="orders", Attributes={"DelaySeconds": "5"})
    assert error_of(raised) == (
        "QueueAlreadyExists",
        "A queue already exists with the same name and a different value for attribute DelaySeconds",
        400,
    )
    assert sqs.get_queue_url(QueueName="orders")["QueueUrl"] == url


def test_missing_queue_errors(sqs: Any, server: ServerThread) -> None:
    missing = f"{server.url}/{ACCOUNT}/nope"
    calls = [
        lambda: sqs.get_queue_url(QueueName="nope"),
        lambda: sqs.get_queue_attributes(QueueUrl=missing, AttributeNames=["All"]),
        lambda: sqs.send_message(QueueUrl=missing, MessageBody="x"),
        lambda: sqs.receive_message(QueueUrl=missing),
        lambda: sqs.delete_queue(QueueUrl=missing),
        lambda: sqs.purge_queue(QueueUrl=missing),
        lambda: sqs.get_queue_url(QueueName="orders", QueueOwnerAWSAccountId="999999999999"),
        lambda: sqs.send_message(QueueUrl=f"{server.url}/999999999999/orders", MessageBody="x"),
    ]
    sqs.create_queue(QueueName="orders")
    for call in calls:
        with pytest.raises(sqs.exceptions.QueueDoesNotExist) as raised:
            call()
        assert error_of(raised) == (
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
            400,
        )


def test_list_queues_prefix_and_paging(sqs: Any, server: ServerThread) -> None:
    for name in ["b-2", "a-1", "b-1", "c", "b-3"]:
        sqs.create_queue(QueueName=name)
    assert sqs.list_queues()["QueueUrls"] == [f"{server.url}/{ACCOUNT}/{n}" for n in ["a-1", "b-1", "b-2", "b-3", "c"]]
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="zz")
    first = sqs.list_queues(QueueNamePrefix="b-", MaxResults=2)
    assert [u.rsplit("/", 1)[1] for u in first["QueueUrls"]] == ["b-1", "b-2"]
    second = sqs.list_queues(QueueNamePrefix="b-", MaxResults=2, NextToken=first["NextToken"])
    assert [u.rsplit("/", 1)[1] for u in second["QueueUrls"]] == ["b-3"]
    assert "NextToken" not in second
    pages = sqs.get_paginator("list_queues").paginate(PaginationConfig={"PageSize": 2})
    assert [u.rsplit("/", 1)[1] for page in pages for u in page.get("QueueUrls", [])] == [
        "a-1",
        "b-1",
        "b-2",
        "b-3",
        "c",
    ]


def test_attributes(sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert dlq_arn == f"arn:aws:sqs:us-east-1:{ACCOUNT}:dead"
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    created = attributes.pop("CreatedTimestamp")
    assert attributes.pop("LastModifiedTimestamp") == created
    assert attributes == {
        "QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders",
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
        "ApproximateNumberOfMessagesDelayed": "0",
        "VisibilityTimeout": "30",
        "MaximumMessageSize": "1048576",
        "MessageRetentionPeriod": "345600",
        "DelaySeconds": "0",
        "ReceiveMessageWaitTimeSeconds": "0",
        "SqsManagedSseEnabled": "true",
    }
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "69", "RedrivePolicy": policy})
    chosen = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"])
    assert chosen["Attributes"] == {"VisibilityTimeout": "69", "RedrivePolicy": policy}
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]
    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "43201"})
    assert error_of(raised) == ("InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout.", 400)
    with pytest.raises(ClientError) as raised:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Nope"])
    assert error_of(raised)[0] == "InvalidAttributeName"
    fifo = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    fifo_attributes = sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["All"])["Attributes"]
    assert {k: fifo_attributes[k] for k in ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope")} == {
        "FifoQueue": "true",
        "ContentBasedDeduplication": "false",
        "DeduplicationScope": "queue",
    }
    with pytest.raises(ClientError) as raised:
        sqs.create_queue(QueueName="jobs2.fifo")
    assert error_of(raised)[0] == "InvalidParameterValue"


def test_tags(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders", tags={"team": "shop"})["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "shop"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test", "team": "billing"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "billing", "env": "test"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}


def test_delete_queue_removes_every_key(sqs: Any, redis_url: str) -> None:
    url = sqs.create_queue(QueueName="orders", tags={"a": "b"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.receive_message(QueueUrl=url)
    client: Any = sync_client(redis_url)
    assert list(client.scan_iter(match="sb:{queue:orders}:*"))
    sqs.delete_queue(QueueUrl=url)
    assert list(client.scan_iter(match="sb:{queue:orders}:*")) == []
    assert client.zrange("sb:{meta}:queues", 0, -1) == []
    assert "QueueUrls" not in sqs.list_queues()
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="orders")


def test_unserved_sqs_operation_is_explicit(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    with pytest.raises(sqs.exceptions.UnsupportedOperation) as raised:
        sqs.add_permission(QueueUrl=url, Label="l", AWSAccountIds=["1"], Actions=["SendMessage"])
    assert error_of(raised) == (
        "AWS.SimpleQueueService.UnsupportedOperation",
        "Switchboard does not serve the SQS operation AddPermission.",
        400,
    )
