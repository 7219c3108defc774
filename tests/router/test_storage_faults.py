"""Redis faults seen from the API: one AWS-shaped error per fault class for every operation of every protocol on the
port, on a single Redis and on a Redis Cluster; a few log lines per fault and second without tracebacks; a frozen
Redis answered within the socket timeout, never a hang; and `/health`, `/metrics` and error messages that never name
the Redis address."""

from __future__ import annotations

import logging
import signal
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
from tests.conftest import RedisClusterNodes, RedisServer
from tests.router._serve import ServeProcess
from tests.router.conftest import Api

pytestmark = pytest.mark.integration

OOM = "Storage is out of memory. Retry the request later."
UNREACHABLE = "Storage is unavailable. Retry the request."
TIMEOUT = "Storage did not answer in time. Retry the request."

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


def _protocol_errors(response: httpx.Response) -> tuple[int, str, str]:
    """(status, error code, message) of an error answer in any of the port's protocols (JSON or REST)."""
    body = orjson.loads(response.content)
    code = body.get("__type") or response.headers.get("x-amzn-errortype", "")
    return response.status_code, str(code).split("#")[-1].split(":")[0], str(body.get("message") or body["Message"])


PROTOCOL_CALLS: list[tuple[str, str, str, dict[str, str], bytes, tuple[int, str]]] = [
    # (what, method, path, headers, body, (status, code) the protocol answers a storage fault with)
    (
        "events ListRules",
        "POST",
        "/",
        {"X-Amz-Target": "AWSEvents.ListRules", "Content-Type": "application/x-amz-json-1.1"},
        b"{}",
        (500, "InternalException"),
    ),
    (
        "events CreateConnection",
        "POST",
        "/",
        {"X-Amz-Target": "AWSEvents.CreateConnection", "Content-Type": "application/x-amz-json-1.1"},
        orjson.dumps(WRITES[4][1]),
        (500, "InternalException"),
    ),
    (
        "sqs ListQueues",
        "POST",
        "/",
        {"X-Amz-Target": "AmazonSQS.ListQueues", "Content-Type": "application/x-amz-json-1.0"},
        b"{}",
        (500, "InternalError"),
    ),
    ("scheduler ListSchedules", "GET", "/schedules", {}, b"", (500, "InternalServerException")),
    ("schemas ListRegistries", "GET", "/v1/registries", {}, b"", (503, "ServiceUnavailableException")),
]


async def _every_protocol(client: httpx.AsyncClient, message: str, addresses: list[str]) -> None:
    for what, method, path, headers, body, (status, code) in PROTOCOL_CALLS:
        response = await client.request(method, path, headers=headers, content=body)
        assert _protocol_errors(response) == (status, code, message), (what, response.text)
        for address in addresses:
            assert address not in response.text, what
    health = await client.get("/health")
    metrics = await client.get("/metrics")
    assert (health.status_code, orjson.loads(health.content)) == (
        503,
        {"status": "unavailable", "redis": "unreachable"},
    )
    assert (metrics.status_code, metrics.text) == (503, "# metrics unavailable: storage unreachable\n")
    for text in (health.text, metrics.text):
        assert not any(address in text for address in addresses), text


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[RedisClusterNodes]:
    (tmp_path / "cluster").mkdir()
    cluster = RedisClusterNodes(tmp_path / "cluster")
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_every_protocol_answers_an_unreachable_redis_alike_and_never_names_it(
    faulty: Api, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    own_redis.stop()
    with caplog.at_level(logging.WARNING):
        await _every_protocol(faulty.client, UNREACHABLE, [f":{own_redis.port}", "127.0.0.1"])
    no_tracebacks(caplog)


async def test_an_unreachable_cluster_is_the_same_fault_and_health_and_metrics_do_not_name_its_nodes(
    own_cluster: RedisClusterNodes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """redis-py's cluster client raises RedisClusterException (no RedisError) when no node answers: still the
    `unreachable` fault, in every protocol, without a traceback; healthy or not, nothing names a node."""
    app = create_app(Settings(redis_url=own_cluster.url, data_dir=tmp_path), ingest=False)
    addresses = [f":{port}" for port in own_cluster.ports] + ["127.0.0.1"]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            healthy = [await client.get("/health"), await client.get("/metrics")]
            assert [r.status_code for r in healthy] == [200, 200]
            for response in healthy:
                assert not any(address in response.text for address in addresses)
            own_cluster.stop()
            with caplog.at_level(logging.WARNING):
                await _every_protocol(client, UNREACHABLE, addresses)
    no_tracebacks(caplog)


def test_an_outage_with_workers_is_quiet_in_every_worker(own_redis: RedisServer, tmp_path: Path) -> None:
    """`serve --workers 2`: each worker has the log filter too, so an outage writes a few lines a second per worker
    and no traceback, and every worker answers the outage's error."""
    server = ServeProcess(tmp_path, own_redis.url, "--workers", "2").wait_ready()
    try:
        with httpx.Client(timeout=10) as client:
            assert server.call(client, "CreateEventBus", {"Name": "b"}).status_code == 200
        before = len(server.log().splitlines())
        own_redis.stop()
        started = time.monotonic()
        answers = set()
        while time.monotonic() - started < 2.0:  # a new connection each time: the kernel spreads them over both
            with httpx.Client(timeout=10) as client:
                response = server.call(client, "ListRules", {})
                answers.add((response.status_code, response.json()["message"]))
        lines = server.log().splitlines()[before:]
        elapsed_s = time.monotonic() - started
    finally:
        server.stop()
    assert answers == {(500, UNREACHABLE)}
    assert "Traceback" not in server.log()
    faults = [line for line in lines if "Connection refused" in line or "storage unreachable" in line]
    assert faults, lines
    assert len(faults) <= 2 * 3 * (elapsed_s + 1), "\n".join(faults)


def test_a_frozen_redis_gets_clients_a_clean_error_within_the_socket_timeout(
    own_redis: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGSTOP: Redis accepts connections but never answers. With SWITCHBOARD_REDIS_SOCKET_TIMEOUT_S=1 every call
    answers the `timeout` fault's error in about a second (redis-py's own default would take 5 s), /health says so,
    and once Redis wakes up everything works again."""
    monkeypatch.setenv("SWITCHBOARD_REDIS_SOCKET_TIMEOUT_S", "1")
    server = ServeProcess(tmp_path, own_redis.url).wait_ready()
    entry = {"Source": "a", "DetailType": "t", "Detail": "{}"}
    try:
        with httpx.Client(timeout=30) as client:
            assert server.call(client, "CreateEventBus", {"Name": "b"}).status_code == 200
            own_redis.proc.send_signal(signal.SIGSTOP)
            try:
                for operation, body in [
                    ("ListRules", {}),
                    ("PutEvents", {"Entries": [entry]}),
                    ("PutRule", WRITES[1][1]),
                ]:
                    started = time.monotonic()
                    response = server.call(client, operation, body)
                    elapsed_s = time.monotonic() - started
                    if response.status_code == 200:  # PutEvents: the entries fail, retryable
                        assert response.json()["Entries"][0]["ErrorCode"] == "InternalFailure", response.text
                    else:
                        assert _protocol_errors(response) == (500, "InternalException", TIMEOUT), operation
                    assert elapsed_s < 3.5, (operation, elapsed_s)
                started = time.monotonic()
                health = client.get(f"{server.url}/health")
                assert (health.status_code, health.json()) == (503, {"status": "unavailable", "redis": "timeout"})
                assert time.monotonic() - started < 3.5
            finally:
                own_redis.proc.send_signal(signal.SIGCONT)
            assert server.call(client, "ListRules", {"EventBusName": "b"}).status_code == 200
            assert server.put_events(client, [entry])["FailedEntryCount"] == 0
    finally:
        server.stop()
    assert "Traceback" not in server.log()
