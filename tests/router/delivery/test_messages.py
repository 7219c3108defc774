"""Unit tests of the pure parts of delivery: DLQ messages, queue and function ARNs, job parsing, target kinds."""

from __future__ import annotations

from typing import Any

import orjson

from router.delivery.dlq import dlq_attributes, dlq_message, dlq_queue
from router.delivery.functions import function_name
from router.delivery.jobs import Job, delivery_id, event_id_of, parse_job
from router.delivery.queues import queue_name, queue_of_arn
from router.delivery.retry import Failure
from router.delivery.transports import service_of
from router.envelope import build_envelope
from router.keys import Keys
from router.namespace import Namespace

KEYS = Keys()
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/orders/r"
TARGET: dict[str, Any] = {
    "Id": "t",
    "Arn": "arn:aws:sqs:us-east-1:123456789012:q",
    "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:1:dlq"},
}


def _job(event: bytes = b'{"id":"e"}', attempts: int = 0) -> Job:
    return Job(b"1-0", "e:r:t", event, "r", orjson.dumps(TARGET), TARGET, 1000, attempts, 0)


def test_dlq_attributes_after_exhausted_retries() -> None:
    failure = Failure("SERVER_ERROR", "HTTP 500: Internal Server Error", True)
    attributes = dlq_attributes(
        rule_arn=RULE_ARN, target_arn=TARGET["Arn"], failure=failure, condition="MaximumRetryAttempts", attempts_made=4
    )
    assert attributes == {
        "RULE_ARN": RULE_ARN,
        "TARGET_ARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "ERROR_CODE": "SERVER_ERROR",
        "ERROR_MESSAGE": "HTTP 500: Internal Server Error",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "3",
    }


def test_dlq_message_carries_the_event_and_the_delivery_id() -> None:
    failure = Failure("CLIENT_ERROR", "HTTP 400: Bad Request", False)
    message = dlq_message(_job(), rule_arn=RULE_ARN, failure=failure, condition=None, attempts_made=1, now_ms=5)
    assert message["body"] == b'{"id":"e"}'
    assert message["delivery_id"] == "e:r:t"
    assert message["sent_ms"] == "5"
    attributes = orjson.loads(message["attributes"])
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes
    assert attributes["RETRY_ATTEMPTS"] == "0"
    assert dlq_queue(KEYS, TARGET) == "dlq"  # account `1` is no account: the home namespace's queue
    assert dlq_queue(KEYS, {"Id": "x"}) is None
    west = {"Id": "t", "Arn": "a", "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-west-1:111122223333:dlq"}}
    assert dlq_queue(KEYS, west) == "111122223333@us-west-1@dlq"


def test_a_queue_arn_names_its_namespaces_queue() -> None:
    assert queue_of_arn(KEYS, "arn:aws:sqs:us-east-1:123456789012:orders") == "orders"  # the home namespace: bare
    assert queue_of_arn(KEYS, "arn:aws:sqs:us-west-1:123456789012:orders") == "123456789012@us-west-1@orders"
    assert queue_of_arn(KEYS, "arn:aws:sqs:us-east-1:111122223333:orders") == "111122223333@us-east-1@orders"
    assert queue_of_arn(KEYS, "arn:aws-cn:sqs:cn-north-1:111122223333:q.fifo") == "111122223333@cn-north-1@q.fifo"
    # an ARN naming no account or region: the default namespace's queue (the home one unless given)
    assert queue_of_arn(KEYS, "arn:aws:sqs:local:1:orders") == "orders"
    west = Namespace("111122223333", "us-west-1")
    assert queue_of_arn(KEYS, "arn:aws:sqs:local:1:orders", west) == "111122223333@us-west-1@orders"
    assert queue_of_arn(KEYS, "arn:aws:sqs:us-east-1:123456789012:orders", west) == "orders"
    assert queue_of_arn(KEYS, "arn:aws:sns:us-east-1:123456789012:orders") is None
    assert queue_of_arn(Keys(home=west), "arn:aws:sqs:us-west-1:111122223333:orders") == "orders"


def test_arn_parsing() -> None:
    assert queue_name("arn:aws:sqs:eu-west-1:111122223333:orders") == "orders"
    assert queue_name("arn:aws:sns:eu-west-1:111122223333:orders") is None
    assert queue_name("arn:aws:sqs:eu-west-1:1:{evil}") is None
    assert queue_name("arn:aws:sqs:eu-west-1:1:111122223333@us-west-1@orders") is None  # no other namespace's queue
    assert function_name("arn:aws:lambda:us-east-1:1:function:process") == "process"
    assert function_name("arn:aws:lambda:us-east-1:1:function:process:live") == "process"
    assert function_name("arn:aws:lambda:us-east-1:1:layer:x") is None
    assert service_of("arn:aws:sqs:r:a:q") == "queue"
    assert service_of("arn:aws:events:r:a:event-bus/b") == "bus"
    assert service_of("arn:aws:events:r:a:api-destination/d/123") == "api-destination"
    assert service_of("arn:aws:lambda:r:a:function:f") == "function"
    assert service_of("arn:aws:sns:r:a:topic") == "sns"


def test_event_id_is_read_without_a_full_parse_and_with_one() -> None:
    event_id, envelope = build_envelope(
        {"Source": "s", "DetailType": "d", "Detail": "{}"}, account="1", region="r", now_s=0.0
    )
    assert event_id_of(envelope) == event_id
    assert event_id_of(b'{"detail":{},"id":"abc"}') == "abc"
    assert delivery_id("abc", "rule", "t1") == "abc:rule:t1"


def test_parse_job_round_trips_the_retry_fields() -> None:
    job = _job(attempts=2)
    fields = {k.encode(): v.encode() for k, v in job.fields(attempts=3, error="TIMEOUT slow").items()}
    parsed = parse_job(b"2-0", fields)
    assert parsed is not None
    assert (parsed.delivery_id, parsed.attempts, parsed.error, parsed.ingest_ms) == ("e:r:t", 3, "TIMEOUT slow", 1000)
    assert parsed.target == TARGET
    assert parse_job(b"3-0", None) is None
    assert parse_job(b"3-0", {b"id": b"x"}) is None
