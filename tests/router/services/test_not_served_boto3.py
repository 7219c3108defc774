"""Real boto3 clients of services Switchboard does not serve, against a real uvicorn server: each gets an error its
own protocol's parser reads, with the code `ServiceNotServedException` and a message naming the service."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from router.services.catalogue import catalogue
from tests.router.conftest import ServerThread, boto3_client

pytestmark = pytest.mark.integration

CALLS = [
    # (client, operation, arguments, protocol botocore speaks to it)
    ("lambda", "list_functions", {}, "rest-json"),
    ("s3", "list_buckets", {}, "rest-xml"),
    ("s3", "get_object", {"Bucket": "b", "Key": "k"}, "rest-xml"),
    ("route53", "list_hosted_zones", {}, "rest-xml"),
    ("dynamodb", "list_tables", {}, "json"),
    ("kinesis", "list_streams", {}, "json"),
    ("stepfunctions", "list_state_machines", {}, "json"),
    ("cloudwatch", "list_metrics", {}, "json"),
    ("sns", "list_topics", {}, "query"),
    ("sts", "get_caller_identity", {}, "query"),
    ("iam", "list_roles", {}, "query"),
    ("ec2", "describe_instances", {}, "ec2"),
]


def client(server: ServerThread, name: str) -> Any:
    return boto3_client(server.url, name)


@pytest.mark.parametrize(("name", "operation", "arguments", "protocol"), CALLS)
def test_service_not_served(
    server: ServerThread, name: str, operation: str, arguments: dict[str, Any], protocol: str
) -> None:
    sdk = client(server, name)
    assert sdk.meta.service_model.resolved_protocol == protocol
    with pytest.raises(ClientError) as raised:
        getattr(sdk, operation)(**arguments)
    error = raised.value.response["Error"]
    title = catalogue().services[name].title
    assert error["Code"] == "ServiceNotServedException"
    assert error["Message"].startswith(f"Switchboard does not serve {title} ({name})")
    assert "This endpoint serves: Amazon EventBridge (events), Amazon Simple Queue Service (sqs)" in error["Message"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_planned_services_say_yet(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    from router.services import not_served

    monkeypatch.setattr(not_served, "PLANNED", frozenset({"dynamodb"}))
    with pytest.raises(ClientError) as raised:
        client(server, "dynamodb").list_tables()
    assert "(dynamodb) yet." in raised.value.response["Error"]["Message"]


def test_rpc_v2_cbor_service(server: ServerThread) -> None:
    """Services whose only protocol botocore speaks is Smithy RPC v2 CBOR get a CBOR error."""
    tested = []
    for name in sorted(s.name for s in catalogue().services.values() if s.protocol == "smithy-rpc-v2-cbor"):
        sdk = client(server, name)
        model = sdk.meta.service_model
        free = [
            op
            for op in model.operation_names
            if not getattr(model.operation_model(op).input_shape, "required_members", [])
        ]
        if not free:
            continue
        method = next(method for method, api in sdk.meta.method_to_api_mapping.items() if api == free[0])
        with pytest.raises(ClientError) as raised:
            getattr(sdk, method)()
        assert raised.value.response["Error"]["Code"] == "ServiceNotServedException", name
        assert f"({name})" in raised.value.response["Error"]["Message"]
        tested.append(name)
    assert tested, "botocore models no RPC v2 CBOR-only service with an operation that needs no input"


def test_events_still_served(server: ServerThread) -> None:
    assert client(server, "events").list_event_buses()["EventBuses"][0]["Name"] == "default"
