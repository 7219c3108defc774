"""Connections and API destinations: the control plane in process and through boto3, secrets never echoed, the
Redis keys left behind, and credentials (OAuth token fetch, caching, refresh) against a real local HTTP server."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from router.api.connections import AUTH, store
from router.app import create_app
from router.connections.auth import ConnectionAuth, ConnectionUnauthorized
from router.connections.secrets import SecretBox
from router.settings import Settings
from tests.conftest import all_keys
from tests.router.conftest import Api, ServerThread, boto3_client, serving
from tests.router.token_server import TokenServer

pytestmark = pytest.mark.integration

SECRETS = ("s3cr3t-password", "s3cr3t-api-key", "s3cr3t-client-secret", "s3cr3t-header-value")


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_url, data_dir=tmp_path)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with serving(app) as api:
        yield api


def basic(name: str = "basic-conn") -> dict[str, Any]:
    return {
        "Name": name,
        "Description": "basic auth",
        "AuthorizationType": "BASIC",
        "AuthParameters": {
            "BasicAuthParameters": {"Username": "alice", "Password": SECRETS[0]},
            "InvocationHttpParameters": {
                "HeaderParameters": [
                    {"Key": "X-Secret", "Value": SECRETS[3], "IsValueSecret": True},
                    {"Key": "X-Plain", "Value": "plain-value", "IsValueSecret": False},
                ],
                "QueryStringParameters": [{"Key": "q", "Value": "1", "IsValueSecret": False}],
            },
        },
    }


def api_key(name: str = "key-conn") -> dict[str, Any]:
    return {
        "Name": name,
        "AuthorizationType": "API_KEY",
        "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": SECRETS[1]}},
    }


def oauth(endpoint: str, name: str = "oauth-conn", method: str = "POST") -> dict[str, Any]:
    return {
        "Name": name,
        "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS",
        "AuthParameters": {
            "OAuthParameters": {
                "ClientParameters": {"ClientID": "client-1", "ClientSecret": SECRETS[2]},
                "AuthorizationEndpoint": endpoint,
                "HttpMethod": method,
                "OAuthHttpParameters": {
                    "BodyParameters": [{"Key": "audience", "Value": "api", "IsValueSecret": False}]
                },
            }
        },
    }


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


ARN_RE = r"^arn:aws:events:us-east-1:123456789012:connection/{}/[-0-9a-f]{{36}}$"


# --- connections --------------------------------------------------------------------------------------


async def test_create_basic_connection_is_authorized_and_describe_hides_secrets(api: Api) -> None:
    created = await api.ok("CreateConnection", basic())
    assert set(created) == {"ConnectionArn", "ConnectionState", "CreationTime", "LastModifiedTime"}
    assert created["ConnectionState"] == "AUTHORIZED"
    assert re.match(ARN_RE.format("basic-conn"), created["ConnectionArn"])

    response = await api.call("DescribeConnection", {"Name": "basic-conn"})
    assert response.status_code == 200
    assert_no_secret(response.text)
    described = orjson.loads(response.content)
    assert described["Name"] == "basic-conn"
    assert described["ConnectionArn"] == created["ConnectionArn"]
    assert described["AuthorizationType"] == "BASIC"
    assert described["ConnectionState"] == "AUTHORIZED"
    assert described["Description"] == "basic auth"
    assert described["SecretArn"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:events!connection/")
    assert described["AuthParameters"] == {
        "BasicAuthParameters": {"Username": "alice"},
        "InvocationHttpParameters": {
            "HeaderParameters": [
                {"Key": "X-Secret", "IsValueSecret": True},
                {"Key": "X-Plain", "Value": "plain-value", "IsValueSecret": False},
            ],
            "QueryStringParameters": [{"Key": "q", "Value": "1", "IsValueSecret": False}],
        },
    }
    assert {"CreationTime", "LastModifiedTime", "LastAuthorizedTime"} <= set(described)


async def test_api_key_and_oauth_describe_show_only_key_name_and_client_id(api: Api) -> None:
    await api.ok("CreateConnection", api_key())
    created = await api.ok("CreateConnection", oauth("http://127.0.0.1:9/token"))
    assert created["ConnectionState"] == "AUTHORIZING"
    key = await api.call("DescribeConnection", {"Name": "key-conn"})
    auth = await api.call("DescribeConnection", {"Name": "oauth-conn"})
    assert_no_secret(key.text + auth.text)
    assert orjson.loads(key.content)["AuthParameters"] == {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key"}}
    assert orjson.loads(auth.content)["AuthParameters"]["OAuthParameters"] == {
        "ClientParameters": {"ClientID": "client-1"},
        "AuthorizationEndpoint": "http://127.0.0.1:9/token",
        "HttpMethod": "POST",
        "OAuthHttpParameters": {"BodyParameters": [{"Key": "audience", "Value": "api", "IsValueSecret": False}]},
    }


async def test_list_connections_filters_pages_and_hides_secrets(api: Api) -> None:
    for name in ("a-1", "a-2", "b-1"):
        await api.ok("CreateConnection", basic(name))
    await api.ok("CreateConnection", oauth("http://127.0.0.1:9/t", name="a-3"))
    response = await api.call("ListConnections", {})
    assert_no_secret(response.text)
    listed = orjson.loads(response.content)
    assert [c["Name"] for c in listed["Connections"]] == ["a-1", "a-2", "a-3", "b-1"]
    assert "NextToken" not in listed
    assert set(listed["Connections"][0]) == {
        "ConnectionArn",
        "Name",
        "ConnectionState",
        "AuthorizationType",
        "CreationTime",
        "LastModifiedTime",
        "LastAuthorizedTime",
    }
    prefixed = await api.ok("ListConnections", {"NamePrefix": "a-", "ConnectionState": "AUTHORIZED"})
    assert [c["Name"] for c in prefixed["Connections"]] == ["a-1", "a-2"]
    first = await api.ok("ListConnections", {"Limit": 3})
    assert len(first["Connections"]) == 3
    second = await api.ok("ListConnections", {"Limit": 3, "NextToken": first["NextToken"]})
    assert [c["Name"] for c in second["Connections"]] == ["b-1"]
    assert "NextToken" not in second
    assert await api.error("ListConnections", {"NextToken": "garbage"}) == (
        400,
        "ValidationException",
        "Parameter NextToken is not valid.",
    )


async def test_create_connection_errors(api: Api) -> None:
    await api.ok("CreateConnection", basic())
    assert await api.error("CreateConnection", basic()) == (
        400,
        "ResourceAlreadyExistsException",
        "Connection basic-conn already exists.",
    )
    mismatched = {**api_key("x"), "AuthorizationType": "BASIC"}
    assert await api.error("CreateConnection", mismatched) == (
        400,
        "ValidationException",
        "Parameter(s) BasicAuthParameters must be specified for AuthorizationType BASIC.",
    )


@pytest.mark.parametrize(
    "operation", ["DescribeConnection", "UpdateConnection", "DeleteConnection", "DeauthorizeConnection"]
)
async def test_unknown_connection(api: Api, operation: str) -> None:
    assert await api.error(operation, {"Name": "nope"}) == (
        400,
        "ResourceNotFoundException",
        "Failed to describe the connection(s). Connection 'nope' does not exist.",
    )


async def test_update_connection_merges_credentials(api: Api) -> None:
    created = await api.ok("CreateConnection", basic())
    updated = await api.ok(
        "UpdateConnection",
        {"Name": "basic-conn", "Description": "new", "AuthParameters": {"BasicAuthParameters": {"Password": "other"}}},
    )
    assert updated["ConnectionArn"] == created["ConnectionArn"]
    assert updated["ConnectionState"] == "AUTHORIZED"
    described = await api.ok("DescribeConnection", {"Name": "basic-conn"})
    assert described["Description"] == "new"
    assert described["AuthParameters"]["BasicAuthParameters"] == {"Username": "alice"}
    auth = await ConnectionAuth(store(api.app.state.switchboard)).authorize(created["ConnectionArn"])
    assert auth.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:other").decode()


async def test_update_connection_switches_type(api: Api) -> None:
    await api.ok("CreateConnection", basic())
    body = {"Name": "basic-conn", "AuthorizationType": "API_KEY"}
    assert await api.error("UpdateConnection", body) == (
        400,
        "ValidationException",
        "Parameter(s) ApiKeyAuthParameters must be specified for AuthorizationType API_KEY.",
    )
    body["AuthParameters"] = api_key()["AuthParameters"]
    await api.ok("UpdateConnection", body)
    described = await api.ok("DescribeConnection", {"Name": "basic-conn"})
    assert described["AuthorizationType"] == "API_KEY"
    assert described["AuthParameters"]["ApiKeyAuthParameters"] == {"ApiKeyName": "x-api-key"}
    assert "BasicAuthParameters" not in described["AuthParameters"]
    assert "InvocationHttpParameters" in described["AuthParameters"]


async def test_deauthorize_clears_credentials_and_update_reauthorizes(api: Api, redis_client: aioredis.Redis) -> None:
    created = await api.ok("CreateConnection", basic())
    answered = await api.ok("DeauthorizeConnection", {"Name": "basic-conn"})
    assert answered["ConnectionState"] == "DEAUTHORIZING"
    assert (await api.ok("DescribeConnection", {"Name": "basic-conn"}))["ConnectionState"] == "DEAUTHORIZED"
    assert await redis_client.hexists("sb:{meta}:connection-secrets", "basic-conn") == 0
    auth = ConnectionAuth(store(api.app.state.switchboard))
    with pytest.raises(ConnectionUnauthorized, match="deauthorized"):
        await auth.authorize(created["ConnectionArn"])
    await api.ok("UpdateConnection", {"Name": "basic-conn", "AuthParameters": basic()["AuthParameters"]})
    assert (await api.ok("DescribeConnection", {"Name": "basic-conn"}))["ConnectionState"] == "AUTHORIZED"
    assert (await auth.authorize(created["ConnectionArn"])).headers["X-Secret"] == SECRETS[3]


async def test_delete_connection_leaves_no_keys(api: Api, redis_client: aioredis.Redis) -> None:
    before = await all_keys(redis_client)
    await api.ok("CreateConnection", basic())
    added = await all_keys(redis_client) - before
    assert added == {b"sb:{meta}:connection-secrets", b"sb:{meta}:connections"}
    deleted = await api.ok("DeleteConnection", {"Name": "basic-conn"})
    assert deleted["ConnectionState"] == "DELETING"
    assert await all_keys(redis_client) == before
    assert await api.error("DescribeConnection", {"Name": "basic-conn"}) == (
        400,
        "ResourceNotFoundException",
        "Failed to describe the connection(s). Connection 'basic-conn' does not exist.",
    )


async def test_secrets_are_encrypted_in_redis(api: Api, redis_client: aioredis.Redis, settings: Settings) -> None:
    await api.ok("CreateConnection", basic())
    dumps = [await redis_client.dump(key) for key in await all_keys(redis_client)]
    assert_no_secret(b"".join(d for d in dumps if d is not None).decode("latin-1"))
    stored = await redis_client.hget("sb:{meta}:connection-secrets", "basic-conn")
    assert stored is not None
    assert SecretBox.from_settings(settings).decrypt(stored)["BasicAuthParameters"]["Password"] == SECRETS[0]
    assert (settings.data_dir / "secrets.key").stat().st_mode & 0o777 == 0o600


# --- API destinations ----------------------------------------------------------------------------------


async def test_api_destination_lifecycle(api: Api, redis_client: aioredis.Redis) -> None:
    connection = await api.ok("CreateConnection", api_key())
    body = {
        "Name": "dest",
        "Description": "d",
        "ConnectionArn": connection["ConnectionArn"],
        "InvocationEndpoint": "https://example.com/hook/*",
        "HttpMethod": "POST",
    }
    created = await api.ok("CreateApiDestination", body)
    assert set(created) == {"ApiDestinationArn", "ApiDestinationState", "CreationTime", "LastModifiedTime"}
    assert created["ApiDestinationState"] == "ACTIVE"
    assert re.match(
        r"^arn:aws:events:us-east-1:123456789012:api-destination/dest/[-0-9a-f]{36}$", created["ApiDestinationArn"]
    )
    described = await api.ok("DescribeApiDestination", {"Name": "dest"})
    assert described == {
        "ApiDestinationArn": created["ApiDestinationArn"],
        "Name": "dest",
        "Description": "d",
        "ApiDestinationState": "ACTIVE",
        "ConnectionArn": connection["ConnectionArn"],
        "InvocationEndpoint": "https://example.com/hook/*",
        "HttpMethod": "POST",
        "InvocationRateLimitPerSecond": 300,
        "CreationTime": created["CreationTime"],
        "LastModifiedTime": created["LastModifiedTime"],
    }
    await api.ok("UpdateApiDestination", {"Name": "dest", "HttpMethod": "PUT", "InvocationRateLimitPerSecond": 5})
    described = await api.ok("DescribeApiDestination", {"Name": "dest"})
    assert (described["HttpMethod"], described["InvocationRateLimitPerSecond"]) == ("PUT", 5)
    listed = await api.ok("ListApiDestinations", {"ConnectionArn": connection["ConnectionArn"]})
    assert [d["Name"] for d in listed["ApiDestinations"]] == ["dest"]
    assert "Description" not in listed["ApiDestinations"][0]
    assert (await api.ok("ListApiDestinations", {"NamePrefix": "x"}))["ApiDestinations"] == []
    assert await redis_client.hkeys("sb:{meta}:api-destinations") == [b"dest"]
    assert await api.ok("DeleteApiDestination", {"Name": "dest"}) == {}
    assert await redis_client.exists("sb:{meta}:api-destinations") == 0


async def test_api_destination_errors(api: Api) -> None:
    connection = await api.ok("CreateConnection", api_key())
    body = {
        "Name": "dest",
        "ConnectionArn": connection["ConnectionArn"],
        "InvocationEndpoint": "https://example.com",
        "HttpMethod": "GET",
    }
    await api.ok("CreateApiDestination", body)
    assert await api.error("CreateApiDestination", body) == (
        400,
        "ResourceAlreadyExistsException",
        "An api-destination dest already exists.",
    )
    stale = connection["ConnectionArn"].rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    assert await api.error("CreateApiDestination", {**body, "Name": "d2", "ConnectionArn": stale}) == (
        400,
        "ResourceNotFoundException",
        "Failed to describe the connection(s). Connection 'key-conn' does not exist.",
    )
    for operation in ("DescribeApiDestination", "UpdateApiDestination", "DeleteApiDestination"):
        assert await api.error(operation, {"Name": "nope"}) == (
            400,
            "ResourceNotFoundException",
            "Failed to describe the api-destination(s). An api-destination 'nope' does not exist.",
        )


# --- boto3 against a real server -------------------------------------------------------------------------


@pytest.fixture
def boto_events(settings: Settings) -> Iterator[Any]:
    server = ServerThread(create_app(settings))
    server.start()
    yield boto3_client(server.url)
    server.stop()


def test_boto3_connections_and_api_destinations(boto_events: Any) -> None:
    captured: list[str] = []
    boto_events.meta.events.register(
        "after-call.events.*", lambda http_response, **_: captured.append(http_response.text)
    )
    created = boto_events.create_connection(**basic())
    assert created["ConnectionState"] == "AUTHORIZED"
    boto_events.create_connection(**api_key())
    described = boto_events.describe_connection(Name="basic-conn")
    assert described["AuthParameters"]["BasicAuthParameters"] == {"Username": "alice"}
    assert described["CreationTime"].tzinfo is not None
    assert [c["Name"] for c in boto_events.list_connections()["Connections"]] == ["basic-conn", "key-conn"]
    boto_events.update_connection(Name="key-conn", Description="changed")
    destination = boto_events.create_api_destination(
        Name="dest",
        ConnectionArn=created["ConnectionArn"],
        InvocationEndpoint="https://example.com/x",
        HttpMethod="POST",
        InvocationRateLimitPerSecond=10,
    )
    assert destination["ApiDestinationState"] == "ACTIVE"
    assert boto_events.describe_api_destination(Name="dest")["InvocationRateLimitPerSecond"] == 10
    assert len(boto_events.list_api_destinations()["ApiDestinations"]) == 1
    boto_events.update_api_destination(Name="dest", InvocationEndpoint="https://example.com/y")
    boto_events.delete_api_destination(Name="dest")
    assert boto_events.deauthorize_connection(Name="key-conn")["ConnectionState"] == "DEAUTHORIZING"
    assert boto_events.delete_connection(Name="key-conn")["ConnectionState"] == "DELETING"
    with pytest.raises(boto_events.exceptions.ResourceNotFoundException) as raised:
        boto_events.describe_connection(Name="key-conn")
    assert raised.value.response["Error"]["Message"] == (
        "Failed to describe the connection(s). Connection 'key-conn' does not exist."
    )
    with pytest.raises(boto_events.exceptions.ResourceAlreadyExistsException):
        boto_events.create_connection(**basic())
    assert captured
    assert_no_secret("".join(captured))


# --- credentials -------------------------------------------------------------------------------------


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    yield server
    server.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_basic_and_api_key_credentials(api: Api) -> None:
    auth = api.app.state.switchboard.extras[AUTH]
    first = await api.ok("CreateConnection", basic())
    second = await api.ok("CreateConnection", api_key())
    basic_auth = await auth.authorize(first["ConnectionArn"])
    assert basic_auth.headers == {
        "Authorization": "Basic " + base64.b64encode(f"alice:{SECRETS[0]}".encode()).decode(),
        "X-Secret": SECRETS[3],
        "X-Plain": "plain-value",
    }
    assert basic_auth.query == {"q": "1"}
    assert (await auth.authorize(second["ConnectionArn"])).headers == {"x-api-key": SECRETS[1]}


async def test_oauth_token_is_fetched_cached_and_refreshed(api: Api, token_server: TokenServer) -> None:
    created = await api.ok("CreateConnection", oauth(token_server.url))
    clock = Clock()
    auth = ConnectionAuth(store(api.app.state.switchboard), clock=clock)
    try:
        first = await auth.authorize(created["ConnectionArn"])
        assert first.headers == {"Authorization": "Bearer token-1"}
        request = token_server.requests[0]
        assert request["method"] == "POST"
        assert request["path"] == "/oauth/token"
        assert (
            request["headers"]["authorization"]
            == "Basic " + base64.b64encode(f"client-1:{SECRETS[2]}".encode()).decode()
        )
        assert request["body"] == {"grant_type": "client_credentials", "audience": "api"}
        described = await api.ok("DescribeConnection", {"Name": "oauth-conn"})
        assert described["ConnectionState"] == "AUTHORIZED"
        assert "LastAuthorizedTime" in described

        assert (await auth.authorize(created["ConnectionArn"])).headers["Authorization"] == "Bearer token-1"
        assert len(token_server.requests) == 1

        auth.invalidate(created["ConnectionArn"])  # what the delivery engine does on a 401 or 407
        assert (await auth.authorize(created["ConnectionArn"])).headers["Authorization"] == "Bearer token-2"

        clock.now += 3600 - 61  # more than 60 s left: still cached
        assert (await auth.authorize(created["ConnectionArn"])).headers["Authorization"] == "Bearer token-2"
        clock.now += 2  # within 60 s of expiry: fetched again
        assert (await auth.authorize(created["ConnectionArn"])).headers["Authorization"] == "Bearer token-3"
        assert len(token_server.requests) == 3
    finally:
        await auth.aclose()


async def test_oauth_get_sends_parameters_in_the_query(api: Api, token_server: TokenServer) -> None:
    created = await api.ok("CreateConnection", oauth(token_server.url, method="GET"))
    auth = ConnectionAuth(store(api.app.state.switchboard))
    try:
        await auth.authorize(created["ConnectionArn"])
    finally:
        await auth.aclose()
    assert token_server.requests[0]["method"] == "GET"
    assert token_server.requests[0]["query"] == {"grant_type": "client_credentials", "audience": "api"}


async def test_oauth_failure_deauthorizes_and_a_later_success_authorizes(api: Api, token_server: TokenServer) -> None:
    created = await api.ok("CreateConnection", oauth(token_server.url))
    auth = ConnectionAuth(store(api.app.state.switchboard))
    try:
        token_server.status = 500
        with pytest.raises(ConnectionUnauthorized, match="HTTP 500"):
            await auth.authorize(created["ConnectionArn"])
        described = await api.ok("DescribeConnection", {"Name": "oauth-conn"})
        assert described["ConnectionState"] == "DEAUTHORIZED"
        assert described["StateReason"] == "Authorization endpoint answered HTTP 500."
        token_server.status = 200
        assert (await auth.authorize(created["ConnectionArn"])).headers["Authorization"] == "Bearer token-2"
        described = await api.ok("DescribeConnection", {"Name": "oauth-conn"})
        assert described["ConnectionState"] == "AUTHORIZED"
        assert "StateReason" not in described
    finally:
        await auth.aclose()


async def test_oauth_token_without_expiry_is_kept_until_invalidated(api: Api, token_server: TokenServer) -> None:
    token_server.expires_in = None
    created = await api.ok("CreateConnection", oauth(token_server.url))
    clock = Clock()
    auth = ConnectionAuth(store(api.app.state.switchboard), clock=clock)
    try:
        await auth.authorize(created["ConnectionArn"])
        clock.now += 10**6
        assert (await auth.authorize(created["ConnectionArn"])).headers["Authorization"] == "Bearer token-1"
    finally:
        await auth.aclose()


async def test_update_connection_drops_the_cached_token(api: Api, token_server: TokenServer) -> None:
    created = await api.ok("CreateConnection", oauth(token_server.url))
    auth = api.app.state.switchboard.extras[AUTH]
    await auth.authorize(created["ConnectionArn"])
    await api.ok(
        "UpdateConnection",
        {"Name": "oauth-conn", "AuthParameters": {"OAuthParameters": {"ClientParameters": {"ClientSecret": "new"}}}},
    )
    assert (await api.ok("DescribeConnection", {"Name": "oauth-conn"}))["ConnectionState"] == "AUTHORIZING"
    assert (await auth.authorize(created["ConnectionArn"])).headers["Authorization"] == "Bearer token-2"
    assert token_server.requests[1]["headers"]["authorization"] == "Basic " + base64.b64encode(b"client-1:new").decode()
