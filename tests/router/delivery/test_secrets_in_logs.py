"""No secret value in any log line at any level: every kind of connection secret goes through real deliveries
(successes, retries, a refresh on 401, failures given up, an unreachable token endpoint) with the root logger at
DEBUG, and the captured log records are scanned for each secret, raw, base64-encoded (Basic auth) and
percent-encoded (query strings)."""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import redis.asyncio as aioredis

from tests.router.conftest import Api
from tests.router.delivery.conftest import counters, put, setup_rule, wait_for
from tests.router.delivery.receiver import Receiver

pytestmark = pytest.mark.integration

SECRETS = {
    "password": "pw-basic-5e1",
    "api_key": "apikey-value-5e2",
    "client_secret": "client-secret-5e3",
    "header": "invocation-header-5e4",
    "query": "invocation-query-5e5",
    "body": "invocation-body-5e6",
    "oauth_header": "oauth-header-5e7",
    "oauth_query": "oauth-query-5e8",
    "oauth_body": "oauth-body-5e9",
    "token": "access-token-5ea",
}


def secret_param(kind: str, key: str, secret: str) -> dict[str, Any]:
    return {kind: [{"Key": key, "Value": secret, "IsValueSecret": True}]}


INVOCATION = {
    **secret_param("HeaderParameters", "X-Secret", SECRETS["header"]),
    **secret_param("QueryStringParameters", "sq", SECRETS["query"]),
    **secret_param("BodyParameters", "sb", SECRETS["body"]),
}


def oauth(name: str, endpoint: str) -> dict[str, Any]:
    return {
        "Name": name,
        "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS",
        "AuthParameters": {
            "OAuthParameters": {
                "ClientParameters": {"ClientID": "client-1", "ClientSecret": SECRETS["client_secret"]},
                "AuthorizationEndpoint": endpoint,
                "HttpMethod": "GET",  # the body parameters go in the query string
                "OAuthHttpParameters": {
                    **secret_param("HeaderParameters", "X-OAuth", SECRETS["oauth_header"]),
                    **secret_param("QueryStringParameters", "oq", SECRETS["oauth_query"]),
                    **secret_param("BodyParameters", "ob", SECRETS["oauth_body"]),
                },
            },
            "InvocationHttpParameters": INVOCATION,
        },
    }


def forms(secret: str) -> set[str]:
    return {secret, quote(secret), quote_plus(secret)}


def forbidden() -> set[str]:
    found = set().union(*(forms(s) for s in SECRETS.values()))
    for user, password in (("alice", SECRETS["password"]), ("client-1", SECRETS["client_secret"])):
        found.add(base64.b64encode(f"{user}:{password}".encode()).decode())
    return found


async def test_no_secret_reaches_any_log_line(
    dapi: Api, redis_client: aioredis.Redis, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger, as `switchboard serve --log-level debug` sets it
    receiver.token_endpoint("/token", prefix=SECRETS["token"])
    receiver.script("/basic", [500, 500])  # retried twice, then delivered
    receiver.script("/key", [400])  # given up at once
    receiver.script("/oauth", [401])  # the token is refreshed once
    connections = [
        {
            "Name": "basic",
            "AuthorizationType": "BASIC",
            "AuthParameters": {
                "BasicAuthParameters": {"Username": "alice", "Password": SECRETS["password"]},
                "InvocationHttpParameters": INVOCATION,
            },
        },
        {
            "Name": "key",
            "AuthorizationType": "API_KEY",
            "AuthParameters": {
                "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": SECRETS["api_key"]},
                "InvocationHttpParameters": INVOCATION,
            },
        },
        oauth("oauth", f"{receiver.url}/token"),
        oauth("unreachable", "http://127.0.0.1:9/token"),  # the token fetch fails: the delivery is given up
    ]
    paths = ["/basic", "/key", "/oauth", "/never"]
    targets = []
    for connection, path in zip(connections, paths, strict=True):
        arn = (await dapi.ok("CreateConnection", connection))["ConnectionArn"]
        destination = await dapi.ok(
            "CreateApiDestination",
            {
                "Name": connection["Name"],
                "ConnectionArn": arn,
                "InvocationEndpoint": f"{receiver.url}{path}",
                "HttpMethod": "POST",
            },
        )
        targets.append({"Id": connection["Name"], "Arn": destination["ApiDestinationArn"], "InputPath": "$.detail"})
    await setup_rule(dapi, targets)
    await put(dapi, {"n": 1})

    async def settled() -> bool:
        return (await counters(redis_client)).get("Invocations:r1", 0) == len(targets)

    await wait_for(settled, what="every delivery to finish")
    assert len(receiver.at("/basic")) == 3
    assert [r.headers["Authorization"] for r in receiver.at("/oauth")] == [
        f"Bearer {SECRETS['token']}1",
        f"Bearer {SECRETS['token']}2",
    ]
    assert receiver.at("/token")[0].query["oq"] == [SECRETS["oauth_query"]]  # the secrets were really sent

    records = caplog.records
    assert any(r.name == "switchboard.delivery.http" and r.levelno == logging.DEBUG for r in records)
    assert any("given up" in r.getMessage() for r in records)  # the failure paths logged
    lines = [caplog.text, *(r.getMessage() for r in records), *(str(r.args) for r in records)]
    leaked = {secret for secret in forbidden() for line in lines if secret in line}
    assert leaked == set()
