"""API destination deliveries against a real HTTP server: an OAuth token refreshed on a 401, the connection's
parameters winning over the target's, and the function-mapping check in PutTargets."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from tests.router.conftest import Api
from tests.router.delivery.conftest import KEYS, counters, function_arn, put, setup_rule, wait_for
from tests.router.delivery.receiver import Receiver

pytestmark = pytest.mark.integration


async def _destination(api: Api, receiver: Receiver, connection: dict[str, Any], path: str) -> str:
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
