"""SQS queues in (account, region) namespaces, with real boto3 `sqs` and `events` clients against a real uvicorn and
redis-server (single and cluster): the same queue name in two regions and two accounts is two queues with their own
URLs, ARNs, messages and listings; a rule's queue target and its DeadLetterConfig deliver into the queue of the
namespace their ARN names; a RedrivePolicy moves messages into its ARN's namespace's queue; the keys left behind
(router.keys: bare names at home, `ACCOUNT@REGION@NAME` elsewhere). The region is the client's signing region, the
account a 12-digit access key id (router.namespace)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from router.keys import Keys
from tests.conftest import free_port, sync_client
from tests.router.conftest import ServerThread, boto3_client
from tests.router.sqs.conftest import error_of
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

HOME = "123456789012"
OTHER = "111122223333"
KEYS = Keys()
NAMESPACES = ((HOME, "us-east-1"), (HOME, "us-west-1"), (OTHER, "us-east-1"), (OTHER, "us-west-1"))


def _client(server: ServerThread, service: str, account: str, region: str) -> Any:
    access_key = "testing" if account == HOME else account  # the home account: the usual test credentials
    return boto3_client(server.url, service, region=region, access_key=access_key, read_timeout_s=30)


def _sqs(server: ServerThread) -> dict[tuple[str, str], Any]:
    return {ns: _client(server, "sqs", *ns) for ns in NAMESPACES}


def _not_there(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return error_of(raised)


NON_EXISTENT = ("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.", 400)


def _scoped(account: str, region: str, name: str) -> str:
    return name if (account, region) == (HOME, "us-east-1") else f"{account}@{region}@{name}"


def test_the_same_queue_name_in_two_regions_and_two_accounts_is_four_queues(
    server: ServerThread, redis_url: str
) -> None:
    clients = _sqs(server)
    urls = {}
    for (account, region), sqs in clients.items():
        url = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "7"}, tags={"at": region})[
            "QueueUrl"
        ]
        assert url == f"{server.url}/{account}/orders"
        urls[account, region] = url
        sqs.create_queue(QueueName=f"only-{region}")
        sqs.send_message(QueueUrl=url, MessageBody=f"{account} {region}")
    for (account, region), sqs in clients.items():
        url = urls[account, region]
        assert sqs.get_queue_url(QueueName="orders")["QueueUrl"] == url
        assert sqs.get_queue_url(QueueName="orders", QueueOwnerAWSAccountId=account)["QueueUrl"] == url
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["QueueArn"] == f"arn:aws:sqs:{region}:{account}:orders"
        assert (attributes["ApproximateNumberOfMessages"], attributes["VisibilityTimeout"]) == ("1", "7")
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"at": region}
        assert sqs.list_queues()["QueueUrls"] == [f"{server.url}/{account}/only-{region}", url]
        assert sqs.list_queues(QueueNamePrefix="or")["QueueUrls"] == [url]
        [message] = sqs.receive_message(QueueUrl=url, AttributeNames=["SenderId"])["Messages"]
        assert (message["Body"], message["Attributes"]["SenderId"]) == (f"{account} {region}", account)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    east, west, other = clients[HOME, "us-east-1"], clients[HOME, "us-west-1"], clients[OTHER, "us-east-1"]
    # another account's queue URL, or its account as the owner: not the caller's queue (no queue policies here)
    assert _not_there(east.send_message, QueueUrl=urls[OTHER, "us-east-1"], MessageBody="x") == NON_EXISTENT
    assert _not_there(east.get_queue_url, QueueName="orders", QueueOwnerAWSAccountId=OTHER) == NON_EXISTENT
    assert _not_there(other.get_queue_url, QueueName="only-us-west-1") == NON_EXISTENT
    # a receipt handle names its namespace's queue: the same name in another region does not take it
    east.send_message(QueueUrl=urls[HOME, "us-east-1"], MessageBody="handle")
    [message] = east.receive_message(QueueUrl=urls[HOME, "us-east-1"])["Messages"]
    with pytest.raises(west.exceptions.ReceiptHandleIsInvalid):
        west.delete_message(QueueUrl=urls[HOME, "us-west-1"], ReceiptHandle=message["ReceiptHandle"])

    # deleting one namespace's queue leaves the others'; the same URL then names nothing in that region
    west.delete_queue(QueueUrl=urls[HOME, "us-west-1"])
    assert _not_there(west.get_queue_attributes, QueueUrl=urls[HOME, "us-west-1"]) == NON_EXISTENT
    assert east.get_queue_attributes(QueueUrl=urls[HOME, "us-east-1"], AttributeNames=["QueueArn"])["Attributes"] == {
        "QueueArn": f"arn:aws:sqs:us-east-1:{HOME}:orders"
    }
    assert west.list_queues()["QueueUrls"] == [f"{server.url}/{HOME}/only-us-west-1"]

    client = sync_client(redis_url)
    try:
        registry = {name.decode() for name in client.zrange(KEYS.queues, 0, -1)}
        expected = {_scoped(a, r, n) for a, r in NAMESPACES for n in ("orders", f"only-{r}")}
        assert registry == expected - {f"{HOME}@us-west-1@orders"}
        scoped = f"{OTHER}@us-west-1@orders"
        assert client.exists(f"sb:{{queue:{scoped}}}:attributes", f"sb:{{queue:{scoped}}}:tags") == 2
        assert client.exists(f"sb:{{queue:{HOME}@us-west-1@orders}}:attributes") == 0
    finally:
        client.close()


def test_list_queues_pages_through_one_namespace(server: ServerThread) -> None:
    clients = _sqs(server)
    east, other = clients[HOME, "us-east-1"], clients[OTHER, "us-east-1"]
    for name in ("a", "b", "c"):
        other.create_queue(QueueName=name)
    east.create_queue(QueueName="b")
    first = other.list_queues(MaxResults=2)
    assert first["QueueUrls"] == [f"{server.url}/{OTHER}/a", f"{server.url}/{OTHER}/b"]
    rest = other.list_queues(MaxResults=2, NextToken=first["NextToken"])
    assert rest["QueueUrls"] == [f"{server.url}/{OTHER}/c"]
    assert "NextToken" not in rest
    assert east.list_queues()["QueueUrls"] == [f"{server.url}/{HOME}/b"]
    assert "QueueUrls" not in clients[OTHER, "us-west-1"].list_queues()


def test_queue_targets_and_their_dead_letter_queues_deliver_into_their_arns_namespace(
    server: ServerThread, redis_url: str
) -> None:
    clients = _sqs(server)
    for sqs in clients.values():
        sqs.create_queue(QueueName="inbox")
    events = _client(server, "events", HOME, "us-east-1")
    events.put_rule(Name="fan", EventPattern=json.dumps({"source": ["shop"]}))
    targets: list[dict[str, Any]] = [
        {"Id": f"q{index}", "Arn": f"arn:aws:sqs:{region}:{account}:inbox"}
        for index, (account, region) in enumerate(NAMESPACES[1:])
    ]
    # a function that cannot be reached, whose dead letters go to another account's us-west-1 queue
    sync_client(redis_url).hset("sb:{meta}:functions", "nowhere", f"http://127.0.0.1:{free_port()}/")
    function = f"arn:aws:lambda:us-east-1:{HOME}:function:nowhere"
    dead = {"Arn": f"arn:aws:sqs:us-west-1:{OTHER}:dead"}
    targets.append({"Id": "f", "Arn": function, "DeadLetterConfig": dead, "RetryPolicy": {"MaximumRetryAttempts": 0}})
    events.put_targets(Rule="fan", Targets=targets)
    sent = events.put_events(Entries=[{"Source": "shop", "DetailType": "t", "Detail": "{}"}])
    event_id = sent["Entries"][0]["EventId"]

    for account, region in NAMESPACES[1:]:
        sqs = clients[account, region]
        url = f"{server.url}/{account}/inbox"
        [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
        event = json.loads(message["Body"])
        assert (event["id"], event["account"], event["region"]) == (event_id, HOME, "us-east-1")  # as it was put
    assert "Messages" not in clients[HOME, "us-east-1"].receive_message(QueueUrl=f"{server.url}/{HOME}/inbox")

    # the dead-letter queue did not exist: the delivery created it, in its namespace, where ListQueues shows it
    west_other = clients[OTHER, "us-west-1"]
    dead_url = f"{server.url}/{OTHER}/dead"
    client = sync_client(redis_url)
    eventually_sync(lambda: client.exists(KEYS.queue(f"{OTHER}@us-west-1@dead")), what="the dead letter")
    client.close()
    assert west_other.get_queue_url(QueueName="dead")["QueueUrl"] == dead_url
    [letter] = west_other.receive_message(QueueUrl=dead_url, WaitTimeSeconds=15, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert json.loads(letter["Body"])["id"] == event_id
    assert letter["MessageAttributes"]["RULE_ARN"]["StringValue"] == f"arn:aws:events:us-east-1:{HOME}:rule/fan"
    assert dead_url in west_other.list_queues()["QueueUrls"]
    for namespace in NAMESPACES[:3]:
        assert "dead" not in " ".join(clients[namespace].list_queues().get("QueueUrls", []))
    client = sync_client(redis_url)
    try:
        assert client.exists(KEYS.queue("dead"), KEYS.queue(f"{HOME}@us-west-1@dead")) == 0
        assert client.xlen(KEYS.queue(f"{OTHER}@us-west-1@dead")) == 1
    finally:
        client.close()


def test_redrive_moves_messages_into_its_arns_namespace(server: ServerThread) -> None:
    clients = _sqs(server)
    east, west = clients[HOME, "us-east-1"], clients[OTHER, "us-west-1"]
    east_dead = east.create_queue(QueueName="dead")["QueueUrl"]
    west_dead = west.create_queue(QueueName="dead")["QueueUrl"]
    dead_arn = west.get_queue_attributes(QueueUrl=west_dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert dead_arn == f"arn:aws:sqs:us-west-1:{OTHER}:dead"
    policy = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 1})
    work = west.create_queue(QueueName="work", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    west.send_message(QueueUrl=work, MessageBody="poison")
    west.receive_message(QueueUrl=work, VisibilityTimeout=0)
    assert "Messages" not in west.receive_message(QueueUrl=work)  # received once: moved, not returned
    [moved] = west.receive_message(QueueUrl=west_dead, AttributeNames=["All"])["Messages"]
    assert moved["Body"] == "poison"
    assert moved["Attributes"]["DeadLetterQueueSourceArn"] == f"arn:aws:sqs:us-west-1:{OTHER}:work"
    assert "Messages" not in east.receive_message(QueueUrl=east_dead)
    assert west.list_dead_letter_source_queues(QueueUrl=west_dead)["queueUrls"] == [work]
    assert east.list_dead_letter_source_queues(QueueUrl=east_dead)["queueUrls"] == []

    # our choice (AWS wants the dead-letter queue in the source's account and region): an ARN of another namespace
    # is that namespace's queue, not the source namespace's queue of that name
    east_work = east.create_queue(QueueName="work", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    east.send_message(QueueUrl=east_work, MessageBody="across")
    east.receive_message(QueueUrl=east_work, VisibilityTimeout=0)
    assert "Messages" not in east.receive_message(QueueUrl=east_work)
    [across] = west.receive_message(QueueUrl=west_dead, AttributeNames=["All"])["Messages"]
    assert across["Attributes"]["DeadLetterQueueSourceArn"] == f"arn:aws:sqs:us-east-1:{HOME}:work"
    assert "Messages" not in east.receive_message(QueueUrl=east_dead)
