"""AWS's recorded answers where Switchboard used to differ (issue 15): each text exactly as AWS sends it.

The expected strings are AWS's, as LocalStack's AWS-validated snapshots recorded them: PutEvents with 11 entries,
CreateApiDestination with a bad HttpMethod, an OAuth connection with `"HttpMethod": "put"`, DescribeConnection's
empty `InvocationHttpParameters` and its `LastAuthorizedTime` in AUTHORIZING, and the raw (multi-line) pattern
error messages. Unit tests check the texts where they are built; the boto3 tests check them on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router.api.connections import store
from router.api.rules import validate_pattern
from router.connections.auth import ConnectionAuth
from router.errors import InvalidEventPatternException, ValidationException
from router.validation import validate_input
from tests.router.conftest import Api
from tests.router.token_server import TokenServer

CORPUS = Path(__file__).resolve().parents[1] / "patterns" / "data" / "event-patterns.jsonl"

DETAIL = '{"command": "update-account", "payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"}}'
ENTRY = {"Source": "core.update-account-command", "DetailType": "core.update-account-command", "Detail": DETAIL}
AWS_ENTRY_TEXT = (
    "PutEventsRequestEntry(time=null, source=core.update-account-command, resources=null, "
    "detailType=core.update-account-command, detail=" + DETAIL + ", eventBusName=BUS, traceHeader=null, "
    "kmsKeyIdentifier=null, internalMetadata=null)"
)


def aws_eleven_entries_message(bus: str) -> str:
    entries = ", ".join([AWS_ENTRY_TEXT.replace("eventBusName=BUS", f"eventBusName={bus}")] * 11)
    return (
        f"1 validation error detected: Value '[{entries}]' at 'entries' failed to satisfy constraint: "
        "Member must have length less than or equal to 10"
    )


AWS_HTTP_METHOD_ENUM = "Member must satisfy enum value set: [HEAD, POST, PATCH, DELETE, PUT, GET, OPTIONS]"


def _validation_message(operation: str, body: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as info:
        validate_input(operation, body)
    return info.value.message


# --- unit: the texts where they are built ----------------------------------------------------------------


def test_put_events_with_eleven_entries_prints_the_java_only_members() -> None:
    body = {"Entries": [{**ENTRY, "EventBusName": "orders"}] * 11}
    assert _validation_message("PutEvents", body) == aws_eleven_entries_message("orders")


@pytest.mark.parametrize("operation", ["CreateApiDestination", "UpdateApiDestination"])
def test_api_destination_http_method_enum_in_aws_order(operation: str) -> None:
    body = {
        "Name": "dest",
        "ConnectionArn": "arn:aws:events:us-east-1:123456789012:connection/c/0f0e4a34-1c1d-4b1f-9a8d-000000000000",
        "InvocationEndpoint": "https://example.com/api",
        "HttpMethod": "INVALID_METHOD",
    }
    assert _validation_message(operation, body) == (
        f"1 validation error detected: Value 'INVALID_METHOD' at 'httpMethod' failed to satisfy constraint: "
        f"{AWS_HTTP_METHOD_ENUM}"
    )


@pytest.mark.parametrize("method", ["put", "Post", "get", "PUT"])
def test_oauth_http_method_in_any_case_passes_validation(method: str) -> None:
    oauth = {
        "ClientParameters": {"ClientID": "id", "ClientSecret": "password"},
        "AuthorizationEndpoint": "https://example.com/oauth",
        "HttpMethod": method,
    }
    validate_input(
        "CreateConnection",
        {"Name": "c", "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS", "AuthParameters": {"OAuthParameters": oauth}},
    )
    validate_input("UpdateConnection", {"Name": "c", "AuthParameters": {"OAuthParameters": {"HttpMethod": method}}})


def test_oauth_http_method_outside_the_enum_is_still_refused() -> None:
    oauth = {
        "ClientParameters": {"ClientID": "id", "ClientSecret": "password"},
        "AuthorizationEndpoint": "https://example.com/oauth",
        "HttpMethod": "patch",
    }
    message = _validation_message(
        "CreateConnection",
        {"Name": "c", "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS", "AuthParameters": {"OAuthParameters": oauth}},
    )
    assert message.endswith("Member must satisfy enum value set: [GET, POST, PUT]")


def _raw_message(pattern: str) -> str:
    with pytest.raises(InvalidEventPatternException) as info:
        validate_pattern(pattern)
    return info.value.message


def _invalid_corpus_cases() -> list[dict[str, Any]]:
    with CORPUS.open(encoding="utf-8") as f:
        cases = [json.loads(line) for line in f if line.strip()]
    return [case for case in cases if case["expected"] == "invalid"]


@pytest.mark.parametrize("case", _invalid_corpus_cases(), ids=lambda case: str(case["name"]))
def test_pattern_error_raw_message_is_awss(case: dict[str, Any]) -> None:
    # The corpus records AWS's whole message (`error_message_raw`), position lines included; the snapshots replace
    # the partition and region in the pattern text with placeholders, which the patterns here spell out.
    pattern = case.get("pattern_raw") or json.dumps(case["pattern"])
    expected = case["error_message_raw"].replace("<partition>", "aws").replace("<region>", "us-east-1")
    assert _raw_message(pattern) == expected


def test_no_position_line_for_cidr_and_wildcard_complexity_errors() -> None:
    for pattern, reason in [
        ('{"ip": [{"cidr": "10.0.0.1/33"}]}', "IPv4 mask bits must be < 32"),
        ('{"ip": [{"cidr": "10.0.0.1"}]}', "Malformed CIDR, one '/' required"),
        ('{"ip": [{"cidr": "xx.11.xx/8"}]}', "Nonstandard IP address: xx.11.xx"),
        (
            '{"arn": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}',
            "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences "
            "after a wildcard character",
        ),
    ]:
        assert _raw_message(pattern) == f"Event pattern is not valid. Reason: {reason}"


def test_anything_but_list_element_errors_repeat_the_position_line() -> None:
    pattern = '{"state": [{"anything-but": {"equals-ignore-case": ["a", 1]}}]}'
    location = f'[Source: (String)"{pattern}"; line: 1, column: 59]'
    assert _raw_message(pattern) == (
        "Event pattern is not valid. Reason: Inside anything-but/equals-ignore-case list, "
        f"number|start|null|boolean is not supported.\n at {location}\n at {location}"
    )
    single = '{"state": [{"anything-but": {"equals-ignore-case": 1}}]}'
    assert _raw_message(single).count("\n at ") == 1


def test_field_with_a_bare_value_points_after_the_opening_quote_of_a_string() -> None:
    # AWS (string_nolist_EXC, int_nolist_EXC): column 13 for a string (Jackson has read only its opening quote),
    # the end of the token for a number.
    assert _raw_message('{"string": "my-value"}') == (
        'Event pattern is not valid. Reason: "string" must be an object or an array\n'
        ' at [Source: (String)"{"string": "my-value"}"; line: 1, column: 13]'
    )
    assert _raw_message('{"int": 42}') == (
        'Event pattern is not valid. Reason: "int" must be an object or an array\n'
        ' at [Source: (String)"{"int": 42}"; line: 1, column: 11]'
    )
    assert _raw_message('{"a": {"b": "x\\"y"}}').endswith("line: 1, column: 14]")


# --- on the wire (boto3 against a real server) ------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("bus", ["default", "custom-bus"])
def test_boto3_put_events_eleven_entries(events_client: Any, bus: str) -> None:
    if bus != "default":
        events_client.create_event_bus(Name=bus)
    with pytest.raises(events_client.exceptions.ClientError) as info:
        events_client.put_events(Entries=[{**ENTRY, "EventBusName": bus}] * 11)
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == aws_eleven_entries_message(bus)


@pytest.mark.integration
def test_boto3_api_destination_bad_method_and_connection_arn(events_client: Any) -> None:
    with pytest.raises(events_client.exceptions.ClientError) as info:
        events_client.create_api_destination(
            Name="dest",
            ConnectionArn="invalid-connection-arn",
            HttpMethod="INVALID_METHOD",
            InvocationEndpoint="invalid-endpoint",
        )
    assert info.value.response["Error"]["Message"] == (
        "2 validation errors detected: Value 'invalid-connection-arn' at 'connectionArn' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        r"^arn:aws([a-z]|\-)*:events:([a-z]|\d|\-)*:([0-9]{12})?:connection\/[\.\-_A-Za-z0-9]+\/[\-A-Za-z0-9]+$; "
        f"Value 'INVALID_METHOD' at 'httpMethod' failed to satisfy constraint: {AWS_HTTP_METHOD_ENUM}"
    )


@pytest.mark.integration
def test_boto3_describe_connection_echoes_empty_invocation_parameters(events_client: Any) -> None:
    events_client.create_connection(
        Name="api-key",
        AuthorizationType="API_KEY",
        AuthParameters={
            "ApiKeyAuthParameters": {"ApiKeyName": "ApiKey", "ApiKeyValue": "secret"},
            "InvocationHttpParameters": {},
        },
    )
    described = events_client.describe_connection(Name="api-key")
    assert described["AuthParameters"] == {
        "ApiKeyAuthParameters": {"ApiKeyName": "ApiKey"},
        "InvocationHttpParameters": {},
    }
    events_client.create_connection(
        Name="basic",
        AuthorizationType="BASIC",
        AuthParameters={"BasicAuthParameters": {"Username": "user", "Password": "pass"}},
    )
    assert events_client.describe_connection(Name="basic")["AuthParameters"] == {
        "BasicAuthParameters": {"Username": "user"}
    }
    events_client.update_connection(
        Name="basic",
        AuthorizationType="BASIC",
        AuthParameters={
            "BasicAuthParameters": {"Username": "new_user", "Password": "new_pass"},
            "InvocationHttpParameters": {},
        },
    )
    assert events_client.describe_connection(Name="basic")["AuthParameters"] == {
        "BasicAuthParameters": {"Username": "new_user"},
        "InvocationHttpParameters": {},
    }


@pytest.mark.integration
def test_boto3_oauth_connection_authorizing_has_last_authorized_time(events_client: Any) -> None:
    created = events_client.create_connection(
        Name="oauth",
        AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
        AuthParameters={
            "OAuthParameters": {
                "AuthorizationEndpoint": "https://example.com/oauth",
                "ClientParameters": {"ClientID": "client_id", "ClientSecret": "client_secret"},
                "HttpMethod": "POST",
            }
        },
    )
    assert created["ConnectionState"] == "AUTHORIZING"
    described = events_client.describe_connection(Name="oauth")
    assert described["ConnectionState"] == "AUTHORIZING"
    assert described["LastAuthorizedTime"] >= described["CreationTime"]
    listed = events_client.list_connections(NamePrefix="oauth")["Connections"]
    assert listed[0]["LastAuthorizedTime"] == described["LastAuthorizedTime"]


@pytest.fixture
def put_token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    handler = server.httpd.RequestHandlerClass
    handler.do_PUT = handler.do_POST  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.mark.integration
async def test_oauth_put_in_lower_case_is_created_and_fetches_with_put(api: Api, put_token_server: TokenServer) -> None:
    created = await api.ok(
        "CreateConnection",
        {
            "Name": "oauth-put",
            "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS",
            "AuthParameters": {
                "OAuthParameters": {
                    "AuthorizationEndpoint": put_token_server.url,
                    "ClientParameters": {"ClientID": "id", "ClientSecret": "password"},
                    "HttpMethod": "put",
                }
            },
        },
    )
    described = await api.ok("DescribeConnection", {"Name": "oauth-put"})
    assert described["AuthParameters"]["OAuthParameters"]["HttpMethod"] == "put"  # stored as given
    auth = ConnectionAuth(store(api.app.state.switchboard))
    try:
        assert (await auth.authorize(created["ConnectionArn"])).headers == {"Authorization": "Bearer token-1"}
    finally:
        await auth.aclose()
    assert put_token_server.requests[0]["method"] == "PUT"
