"""router.services.catalogue: the AWS services of the installed botocore, and how a request names its service."""

from __future__ import annotations

import pytest

from router.services.catalogue import catalogue, identify, signing_name

AUTH = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0"


def test_catalogue_reads_every_model_with_botocore_protocol_priority() -> None:
    known = catalogue()
    assert len(known.services) > 300
    assert (known.services["sqs"].protocol, known.services["sqs"].json_version) == ("json", "1.0")
    assert known.services["sqs"].target_prefix == "AmazonSQS"
    assert known.services["events"].json_version == "1.1"
    assert known.services["sns"].protocol == "query"
    assert known.services["s3"].protocol == "rest-xml"
    assert known.services["ec2"].protocol == "ec2"
    assert known.services["scheduler"].protocol == "rest-json"
    # CloudWatch models ["smithy-rpc-v2-cbor", "json", "query"]: botocore prefers json
    assert known.services["cloudwatch"].protocol == "json"
    assert known.services["stepfunctions"].signing_name == "states"


@pytest.mark.parametrize(
    ("headers", "path", "query", "form", "expected"),
    [
        ({"x-amz-target": "DynamoDB_20120810.ListTables"}, "/", "", None, "dynamodb"),
        ({"x-amz-target": "AmazonSQS.ListQueues"}, "/", "", None, "sqs"),
        ({"authorization": AUTH.format("sns")}, "/", "", {"Action": "ListTopics"}, "sns"),
        ({"authorization": AUTH.format("states")}, "/", "", None, "stepfunctions"),
        ({"authorization": AUTH.format("lambda")}, "/2015-03-31/functions/", "", None, "lambda"),
        (
            {},
            "/b/key",
            "X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=0",
            None,
            "s3",
        ),
        ({}, "/", "", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, "sts"),
        ({}, "/v1/registries", "", None, "schemas"),
        ({}, "/v1/discoverers/id/d", "", None, "schemas"),
        ({}, "/schedules", "", None, "scheduler"),
        ({}, "/schedule-groups/default", "", None, "scheduler"),
        (
            {"smithy-protocol": "rpc-v2-cbor"},
            "/service/GraniteServiceVersion20100801/operation/ListMetrics",
            "",
            None,
            "cloudwatch",
        ),
    ],
)
def test_identify(headers: dict[str, str], path: str, query: str, form: dict[str, str] | None, expected: str) -> None:
    service = identify(headers, path, query, form)
    assert service is not None
    assert service.name == expected


@pytest.mark.parametrize(
    ("headers", "path"),
    [
        ({}, "/"),
        ({}, "/v1/registriesx"),
        ({"x-amz-target": "NoSuchPrefix.Op"}, "/"),
        ({"authorization": "Bearer x"}, "/"),
    ],
)
def test_identify_nothing(headers: dict[str, str], path: str) -> None:
    assert identify(headers, path, "") is None


def test_signing_name_needs_a_whole_credential_scope() -> None:
    assert signing_name({"authorization": AUTH.format("sqs")}, "") == "sqs"
    assert signing_name({"authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/sqs, Signature=0"}, "") is None
    assert signing_name({}, "") is None
