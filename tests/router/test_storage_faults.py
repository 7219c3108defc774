"""Redis faults seen from the API: one AWS-shaped error per fault class for every operation, a few log lines per
fault and second without tracebacks, and `/health` and `/metrics` that never name the Redis address."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from router.app import create_app
from router.faults import QuietFaults
from router.settings import Settings
from tests.conftest import RedisServer
from tests.router._serve import ServeProcess
from tests.router.conftest import Api

pytestmark = pytest.mark.integration

OOM = "Storage is out of memory. Retry the request later."
UNREACHABLE = "Storage is unavailable. Retry the request."

WRITES: list[tuple[str, dict[str, Any]]] = [
    ("CreateEventBus", {"Name": "new-bus"}),
    ("PutRule", {"Name": "r2", "EventPattern": '{"source": ["a"]}'}),
    ("PutTargets", {"Rule": "r", "Targets": [{"Id": "t2", "Arn": "arn:aws:sqs:us-east-1:123456789012:q2"}]}),
    (
        "TagResource",
        {"ResourceARN": "arn:aws:events:us-east-1:123456789012:rule/r", "Tags": [{"Key": "k", "Value": "v"}]},
    ),
    (
        "CreateConnection",
        {
            "Name": "c",
            "AuthorizationType": "API_KEY",
            "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}},
        },
    ),
    ("DisableRule", {"Name": "r"}),
]


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def faulty(own_redis: RedisServer, tmp_path: Path) -> AsyncIterator[Api]:
    app = create_app(Settings(redis_url=own_redis.url, data_dir=tmp_path), ingest=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            api = Api(client, app)
            await api.ok("PutRule", {"Name": "r", "EventPattern": '{"source": ["a"]}'})
            yield api


@pytest.fixture
def caplog(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The captured log as `switchboard serve` writes it: through router.faults.QuietFaults (router.cli installs it
    on the log handlers), so a part that logs a storage fault with its traceback is quieted there. (pytest reuses
    its capture handler: the filter is taken off again.)"""
    quiet = QuietFaults()
    caplog.handler.addFilter(quiet)
    yield caplog
    caplog.handler.removeFilter(quiet)


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


async def test_out_of_memory_is_one_error_for_every_write(
    faulty: Api, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    admin = redis.Redis.from_url(own_redis.url)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)  # every write is refused with OOM; reads still work
    try:
        with caplog.at_level(logging.WARNING):
            for operation, body in WRITES:
                assert await faulty.error(operation, body) == (500, "InternalException", OOM), operation
            answer = await faulty.ok("PutEvents", {"Entries": [{"Source": "a", "DetailType": "t", "Detail": "{}"}]})
            assert answer["FailedEntryCount"] == 1
            assert answer["Entries"][0]["ErrorCode"] == "InternalFailure"
            assert (await faulty.ok("DescribeRule", {"Name": "r"}))["Name"] == "r"
            for _ in range(20):  # a storm of the same fault: a few lines a second
                await faulty.error("PutRule", {"Name": "r3", "EventPattern": '{"source": ["a"]}'})
    finally:
        admin.config_set("maxmemory", 0)
        admin.close()
    no_tracebacks(caplog)
    put_rule_lines = [r for r in caplog.records if r.getMessage().startswith("PutRule: storage out-of-memory")]
    assert 1 <= len(put_rule_lines) <= 3 * 2  # at most 3 per second, and the storm takes well under 2 s


async def test_unreachable_redis_is_one_error_and_health_and_metrics_do_not_name_it(
    faulty: Api, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    own_redis.stop()
    with caplog.at_level(logging.WARNING):
        for operation, body in [*WRITES, ("ListEventBuses", {}), ("DescribeRule", {"Name": "r"})]:
            assert await faulty.error(operation, body) == (500, "InternalException", UNREACHABLE), operation
        health = await faulty.client.get("/health")
        metrics = await faulty.client.get("/metrics")
    assert (health.status_code, orjson.loads(health.content)) == (
        503,
        {"status": "unavailable", "redis": "unreachable"},
    )
    assert (metrics.status_code, metrics.text) == (503, "# metrics unavailable: storage unreachable\n")
    for text in (health.text, metrics.text):
        assert str(own_redis.port) not in text
        assert "127.0.0.1" not in text
    no_tracebacks(caplog)


def test_an_outage_writes_a_few_lines_a_second_and_no_traceback(own_redis: RedisServer, tmp_path: Path) -> None:
    """The real command, with its log filter: every part of the router meets the outage, a few lines pass."""
    server = ServeProcess(tmp_path, own_redis.url).wait_ready()
    try:
        with httpx.Client(timeout=10) as client:
            assert server.call(client, "CreateEventBus", {"Name": "b"}).status_code == 200
            before = len(server.log().splitlines())
            own_redis.stop()
            started = time.monotonic()
            while time.monotonic() - started < 2.0:  # a storm of requests while every loop retries
                assert server.call(client, "ListRules", {}).status_code == 500
            lines = server.log().splitlines()[before:]
            elapsed_s = time.monotonic() - started
    finally:
        server.stop()
    assert "Traceback" not in server.log()
    faults = [line for line in lines if "Connection refused" in line or "storage unreachable" in line]
    assert faults, lines
    assert len(faults) <= 3 * (elapsed_s + 1), "\n".join(faults)
