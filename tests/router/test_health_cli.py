"""`switchboard health-check ID healthy|unhealthy` as a subprocess against the real Redis (single and cluster): it
sets the status PutEvents' endpoint routing reads, prints it and where each endpoint using it routes, and refuses
what is not a health check."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from router.keys import Keys
from router.store.endpoints import EndpointStore
from tests.router.control_plane import control_api

pytestmark = pytest.mark.integration

CHECK_ID = "7f4243fa-ce7e-493b-b3de-4d2058e52ce7"
CHECK = f"arn:aws:route53:::healthcheck/{CHECK_ID}"


def run(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "router.cli", "health-check", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


async def create_endpoint(redis_url: str) -> str:
    async with control_api(redis_url) as api:
        await api.ok(
            "CreateEndpoint",
            {
                "Name": "prod",
                "RoutingConfig": {
                    "FailoverConfig": {"Primary": {"HealthCheck": CHECK}, "Secondary": {"Route": "us-west-2"}}
                },
                "EventBuses": [
                    {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/orders"},
                    {"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/orders"},
                ],
                "ReplicationConfig": {"State": "DISABLED"},
            },
        )
        endpoint_id: str = (await api.ok("DescribeEndpoint", {"Name": "prod"}))["EndpointId"]
        return endpoint_id


async def test_unhealthy_then_healthy_flips_the_route_and_says_so(redis_url: str, redis_client: aioredis.Redis) -> None:
    endpoint_id = await create_endpoint(redis_url)
    store = EndpointStore(redis_client, Keys())
    printed = await asyncio.to_thread(run, redis_url, CHECK_ID)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines() == [
        f"health check {CHECK_ID}: HEALTHY",
        f"endpoint prod ({endpoint_id}): events go to us-east-1 (its primary)",
    ]
    assert await redis_client.hget("sb:{meta}:health-checks", CHECK_ID) is None  # printing changes nothing

    down = await asyncio.to_thread(run, redis_url, CHECK, "unhealthy")  # the ARN works as well as the id
    assert down.returncode == 0, down.stderr
    assert down.stdout.splitlines() == [
        f"health check {CHECK_ID}: UNHEALTHY",
        f"endpoint prod ({endpoint_id}): events go to us-west-2 (its secondary)",
    ]
    assert await redis_client.hget("sb:{meta}:health-checks", CHECK_ID) == b"UNHEALTHY"
    found = await store.route(endpoint_id)
    assert found is not None
    assert found[1] == "UNHEALTHY"

    up = await asyncio.to_thread(run, redis_url, CHECK_ID, "healthy")
    assert up.returncode == 0, up.stderr
    assert up.stdout.splitlines()[0] == f"health check {CHECK_ID}: HEALTHY"
    found = await store.route(endpoint_id)
    assert found is not None
    assert found[1] == "HEALTHY"


async def test_a_check_no_endpoint_uses_is_set_and_said_so(redis_url: str, redis_client: aioredis.Redis) -> None:
    done = await asyncio.to_thread(run, redis_url, "spare-check", "unhealthy")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "health check spare-check: UNHEALTHY",
        "no global endpoint uses this health check (yet)",
    ]
    assert await redis_client.hget("sb:{meta}:health-checks", "spare-check") == b"UNHEALTHY"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["Not_An_Id", "healthy"], "'Not_An_Id' is not a Route 53 health check"),
        (["arn:aws:sqs:::healthcheck/abc", "healthy"], "is not a Route 53 health check"),
        (["abc", "sick"], "invalid choice: 'sick'"),
    ],
)
def test_bad_arguments_are_usage_errors(redis_url: str, args: list[str], expected: str) -> None:
    done = run(redis_url, *args)
    assert done.returncode == 2
    assert expected in done.stderr
    assert done.stdout == ""
