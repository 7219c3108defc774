"""API destination deliveries against a real HTTP server: an OAuth token refreshed on a 401, the connection's
parameters winning over the target's, and the function-mapping check in PutTargets."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from tests.router.conftest import Api
from tests.router.delivery.conftest import (
    KEYS,
    counters,
    function_arn,
    put,
    queue_arn,
    queue_length,
    read_queue,
    settled_counters,
    setup_rule,
    wait_for,
)
from tests.router.delivery.receiver import Receiver

pytestmark = pytest.mark.integration


async def _destination(api: Api, receiver: Receiver, connection: dict[str, Any], path: str) -> str:
    """The API destination `dest` calling `path` on the receiver through a new connection; its ARN."""
    created = await api.ok("CreateConnection", connection)
    destination = await api.ok(
        "CreateApiDestination",
        {
            "Name": "dest",
            "ConnectionArn": created["ConnectionArn"],
            "InvocationEndpoint": f"{receiver.url}{path}",
            "HttpMethod": "PUT",
            "InvocationRateLimitPerSecond": 50,
        },
    )
    return str(destination["ApiDestinationArn"])


async def test_oauth_token_is_refreshed_on_401_and_the_delivery_succeeds(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver
) -> None:
    receiver.token_endpoint("/token")
    receiver.script("/hook", [401])  # the first token is refused once (revoked at the provider)
    oauth = {
        "Name": "oauth",
        "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS",
        "AuthParameters": {
            "OAuthParameters": {
                "ClientParameters": {"ClientID": "id", "ClientSecret": "secret"},
                "AuthorizationEndpoint": f"{receiver.url}/token",
                "HttpMethod": "POST",
            }
        },
    }
    arn = await _destination(dapi, receiver, oauth, "/hook")
    await setup_rule(dapi, [{"Id": "api", "Arn": arn}])
    await put(dapi, {"n": 1})

    async def done() -> bool:
        return (await counters(redis_client)).get("Invocations:r1", 0) == 1

    await wait_for(done, what="the delivery")
    hooks = receiver.at("/hook")
    assert [h.headers["Authorization"] for h in hooks] == ["Bearer t1", "Bearer t2"]
    assert all(h.method == "PUT" for h in hooks)
    assert len(receiver.at("/token")) == 2
    stats = await counters(redis_client)
    assert stats["SuccessfulInvocationAttempts:r1"] == 1
    assert "FailedInvocations:r1" not in stats


async def test_connection_parameters_win_over_the_target_parameters(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver
) -> None:
    basic = {
        "Name": "basic",
        "AuthorizationType": "BASIC",
        "AuthParameters": {
            "BasicAuthParameters": {"Username": "u", "Password": "p"},
            "InvocationHttpParameters": {
                "HeaderParameters": [{"Key": "X-Team", "Value": "connection", "IsValueSecret": False}],
                "QueryStringParameters": [{"Key": "k", "Value": "connection", "IsValueSecret": True}],
                "BodyParameters": [{"Key": "source", "Value": "connection", "IsValueSecret": False}],
            },
        },
    }
    arn = await _destination(dapi, receiver, basic, "/hook")
    params = {"HeaderParameters": {"X-Team": "target", "X-Other": "t"}, "QueryStringParameters": {"k": "t", "j": "t"}}
    await setup_rule(dapi, [{"Id": "api", "Arn": arn, "HttpParameters": params, "InputPath": "$.detail"}])
    await put(dapi, {"source": "event", "n": 2})

    async def done() -> bool:
        return len(receiver.at("/hook")) == 1

    await wait_for(done, what="the call")
    (call,) = receiver.at("/hook")
    assert call.headers["Authorization"] == "Basic dTpw"
    assert call.headers["X-Team"] == "connection"
    assert call.headers["X-Other"] == "t"
    assert call.query == {"k": ["connection"], "j": ["t"]}
    assert orjson.loads(call.body) == {"source": "connection", "n": 2}


async def test_put_targets_refuses_a_function_without_a_url_mapping(dapi: Api, redis_client: aioredis.Redis) -> None:
    await dapi.ok("PutRule", {"Name": "r1", "EventPattern": '{"source": ["shop"]}'})
    target = {"Id": "fn", "Arn": function_arn("missing")}
    status, code, message = await dapi.error("PutTargets", {"Rule": "r1", "Targets": [target]})
    assert (status, code) == (400, "ValidationException")
    assert message == (
        "Target fn: function missing has no URL in this router. Map it in the config's functions: section "
        "(or HSET sb:{meta}:functions missing URL) before adding it as a target."
    )
    assert await dapi.ok("ListTargetsByRule", {"Rule": "r1"}) == {"Targets": []}
    await redis_client.hset(KEYS.functions, "missing", "http://127.0.0.1:9/")
    await dapi.ok("PutTargets", {"Rule": "r1", "Targets": [target]})


# --- hostile input: URLs, path parameters, header values from the event -----------------------------------

API_KEY = {
    "Name": "key",
    "AuthorizationType": "API_KEY",
    "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k"}},
}


@pytest.mark.parametrize(
    "endpoint", ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "ftp://h.example/f", "http://*/x"]
)
async def test_only_http_and_https_endpoints_with_a_plain_host_are_accepted(dapi: Api, endpoint: str) -> None:
    connection = (await dapi.ok("CreateConnection", API_KEY))["ConnectionArn"]
    body = {"Name": "d", "ConnectionArn": connection, "InvocationEndpoint": endpoint, "HttpMethod": "POST"}
    assert await dapi.error("CreateApiDestination", body) == (
        400,
        "ValidationException",
        f"Failed to create the api-destination(s). Parameter InvocationEndpoint is not valid. Reason: Endpoint "
        f"'{endpoint}' is invalid, please provide a valid HTTPS or HTTP endpoint URL.",
    )
    await dapi.ok("CreateApiDestination", {**body, "InvocationEndpoint": "https://h.example/x"})
    assert await dapi.error("UpdateApiDestination", {"Name": "d", "InvocationEndpoint": endpoint}) == (
        400,
        "ValidationException",
        f"Failed to update the api-destination(s). Parameter InvocationEndpoint is not valid. Reason: Endpoint "
        f"'{endpoint}' is invalid, please provide a valid HTTPS or HTTP endpoint URL.",
    )
    assert (await dapi.ok("DescribeApiDestination", {"Name": "d"}))["InvocationEndpoint"] == "https://h.example/x"
    oauth = {
        "Name": "oauth",
        "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS",
        "AuthParameters": {
            "OAuthParameters": {
                "ClientParameters": {"ClientID": "id", "ClientSecret": "s"},
                "AuthorizationEndpoint": endpoint,
                "HttpMethod": "POST",
            }
        },
    }
    assert await dapi.error("CreateConnection", oauth) == (
        400,
        "ValidationException",
        f"Failed to create the connection(s). Parameter AuthorizationEndpoint is not valid. Reason: Endpoint "
        f"'{endpoint}' is invalid, please provide a valid HTTPS or HTTP endpoint URL.",
    )


async def test_path_parameters_fill_path_segments_percent_encoded(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver
) -> None:
    arn = await _destination(dapi, receiver, API_KEY, "/api/*/items/*")
    params = {"PathParameterValues": ["a/b?c", ".."]}
    await setup_rule(dapi, [{"Id": "api", "Arn": arn, "HttpParameters": params}])
    await put(dapi, {"n": 1})
    await wait_for(lambda: _requests_at_least(receiver, 1), what="the call")
    (call,) = receiver.requests
    assert call.path == "/api/a%2Fb%3Fc/items/%2E%2E"
    assert call.query == {}


async def _requests_at_least(receiver: Receiver, count: int) -> bool:
    return len(receiver.requests) >= count


@pytest.mark.parametrize("value", ["evil\r\nX-Injected: 1", "line\nbreak", "nul\x00"])
async def test_a_control_character_in_a_header_from_the_event_fails_for_good(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver, value: str
) -> None:
    arn = await _destination(dapi, receiver, API_KEY, "/hook")
    target = {
        "Id": "api",
        "Arn": arn,
        "HttpParameters": {"HeaderParameters": {"X-From-Event": "$.detail.h"}},
        "DeadLetterConfig": {"Arn": queue_arn("dlq")},
    }
    await setup_rule(dapi, [target])
    await put(dapi, {"h": value})

    async def dead_lettered() -> bool:
        return await queue_length(redis_client, "dlq") == 1

    await wait_for(dead_lettered, what="the DLQ message")
    attributes = orjson.loads((await read_queue(redis_client, "dlq"))[0]["attributes"])
    assert attributes == {
        "RULE_ARN": "arn:aws:events:us-east-1:123456789012:rule/r1",
        "TARGET_ARN": arn,
        "ERROR_CODE": "INPUT_ERROR",
        "ERROR_MESSAGE": "Header X-From-Event contains a control character (CR, LF, NUL, ...); it cannot be sent.",
        "RETRY_ATTEMPTS": "0",
    }
    assert receiver.requests == []
    stats = await settled_counters(redis_client, {"InvocationsSentToDlq:r1": 1})  # the DLQ message comes first
    assert "RetryInvocationAttempts:r1" not in stats


async def test_a_unicode_header_from_the_event_is_sent_as_utf8(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver
) -> None:
    arn = await _destination(dapi, receiver, API_KEY, "/hook")
    params = {"HeaderParameters": {"X-Name": "$.detail.name"}}
    await setup_rule(dapi, [{"Id": "api", "Arn": arn, "HttpParameters": params}])
    await put(dapi, {"name": "Zoë"})
    await wait_for(lambda: _requests_at_least(receiver, 1), what="the call")
    # http.server decodes header bytes as latin-1
    assert receiver.requests[0].headers["X-Name"].encode("latin-1").decode() == "Zoë"


async def test_http_targets_carry_the_hop_count(dapi: Api, redis_client: aioredis.Redis, receiver: Receiver) -> None:
    arn = await _destination(dapi, receiver, API_KEY, "/hook")
    await redis_client.hset(KEYS.functions, "fn", f"{receiver.url}/fn")
    await setup_rule(dapi, [{"Id": "api", "Arn": arn}, {"Id": "fn", "Arn": function_arn("fn")}])
    await put(dapi, {"n": 1})
    await wait_for(lambda: _requests_at_least(receiver, 2), what="both calls")
    assert sorted((r.path, r.headers["X-Switchboard-Hops"]) for r in receiver.requests) == [
        ("/fn", "0"),
        ("/hook", "0"),
    ]
