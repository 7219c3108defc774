"""Bad input never gets a 500 from the SQS API: every served operation, fed random members of random JSON types
shaped by botocore's `sqs` model, answers 200 or a client error with SQS's error shape (`__type`, `message`, and
the `x-amzn-query-error` header), never InternalError or a traceback.

Half of the bodies name a real queue (standard or FIFO, holding messages) so they get past the queue lookup and
reach the scripts; receipt handles are real ones half of the time. Long polls are shortened to 0 s. A fixed seed
keeps the run repeatable; a failure prints the operation and body that caused it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import botocore.session
import orjson
import pytest

from tests.router.control_plane import control_api
from tests.router.test_no_server_errors import _body

pytestmark = pytest.mark.integration

BODIES_PER_OPERATION = 40
TARGET = "AmazonSQS."
HEADERS = {"Content-Type": "application/x-amz-json-1.0"}


async def test_random_members_of_every_sqs_operation_never_get_a_server_error(redis_url: str, tmp_path: Path) -> None:
    model = botocore.session.get_session().get_service_model("sqs")
    rng = random.Random(20261201)
    async with control_api(redis_url, data_dir=tmp_path) as api:

        async def call(operation: str, body: Any) -> Any:
            return await api.client.post(
                "/", content=json.dumps(body), headers={**HEADERS, "X-Amz-Target": f"{TARGET}{operation}"}
            )

        urls = []
        for name, attributes in [("q", {}), ("q.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"})]:
            created = await call("CreateQueue", {"QueueName": name, "Attributes": attributes})
            urls.append(orjson.loads(created.content)["QueueUrl"])
        handles: list[str] = []
        for url in urls:
            for n in range(5):
                await call("SendMessage", {"QueueUrl": url, "MessageBody": str(n), "MessageGroupId": "g"})
            received = orjson.loads((await call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 2})).content)
            handles += [m["ReceiptHandle"] for m in received.get("Messages", [])]
        served = sorted(api.app.state.switchboard.extras["sqs"].handlers)
        assert {"SendMessage", "ReceiveMessage", "DeleteMessageBatch", "CreateQueue"} <= set(served)
        succeeded: set[str] = set()
        for operation in served:
            input_shape = model.operation_model(operation).input_shape
            for _ in range(BODIES_PER_OPERATION):
                body = _body(rng, input_shape)
                if rng.random() < 0.5:
                    body["QueueUrl"] = rng.choice(urls)
                if "ReceiptHandle" in body and rng.random() < 0.5:
                    body["ReceiptHandle"] = rng.choice(handles)
                entries = body.get("Entries")
                for entry in entries if isinstance(entries, list) else []:
                    if isinstance(entry, dict) and "ReceiptHandle" in entry and rng.random() < 0.5:
                        entry["ReceiptHandle"] = rng.choice(handles)
                if isinstance(body.get("WaitTimeSeconds"), int) and not isinstance(body["WaitTimeSeconds"], bool):
                    body["WaitTimeSeconds"] = 0
                if operation == "DeleteQueue" and body.get("QueueUrl") in urls:
                    continue  # keep the two queues for the other operations
                response = await call(operation, body)
                assert response.status_code < 500, (operation, body, response.text)
                if response.status_code == 200:
                    succeeded.add(operation)
                else:
                    error = orjson.loads(response.content)
                    assert set(error) == {"__type", "message"}, (operation, body, error)
                    assert response.headers["x-amzn-query-error"].endswith(";Sender"), (operation, body, error)
        assert len(succeeded) >= len(served) // 2, sorted(set(served) - succeeded)


async def test_bodies_that_are_not_objects_get_a_serialization_error(redis_url: str, tmp_path: Path) -> None:
    async with control_api(redis_url, data_dir=tmp_path) as api:
        for raw in [b"[]", b"3", b"{", b"\xff\xfe"]:
            response = await api.client.post(
                "/", content=raw, headers={**HEADERS, "X-Amz-Target": f"{TARGET}ListQueues"}
            )
            assert response.status_code == 400, raw
            assert response.headers["x-amzn-query-error"] == "SerializationException;Sender"
