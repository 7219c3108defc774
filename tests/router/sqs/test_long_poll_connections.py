"""Many long polls on many queues hold a bounded number of Redis connections (issue 7 item 2's rule, for SQS).

100 ReceiveMessage calls with WaitTimeSeconds wait at once, each on its own queue, against a real uvicorn on a
single redis-server and on the 3-master cluster. While they wait, CLIENT LIST (on every node) shows at most one
long-poll reader connection per Redis node for this process, and no more command connections than a small
command pool; a SendMessage and a ReceiveMessage on another queue answer at once (no long poll holds a connection
they need); a message sent to one of the 100 queues ends that queue's long poll at once, and the others end at their
deadline, empty.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from router.app import create_app
from tests.conftest import sync_client
from tests.router.conftest import ServerThread, make_settings
from tests.waiting import eventually

pytestmark = pytest.mark.integration

QUEUES = 100
POOL = 8
"""The command pool of the server under test: smaller than the number of long polls, so any long poll that held a
command connection while it waits would starve the others (and the SendMessage below)."""


@pytest.fixture
def small_pool_server(redis_url: str) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(make_settings(redis_url, redis_max_connections=POOL)))
    srv.start()
    yield srv
    srv.stop()


async def _sqs(client: httpx.AsyncClient, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        "/",
        content=orjson.dumps(body),
        headers={"X-Amz-Target": f"AmazonSQS.{operation}", "Content-Type": "application/x-amz-json-1.0"},
    )
    assert response.status_code == 200, response.text
    parsed: dict[str, Any] = orjson.loads(response.content)
    return parsed


def _connections(redis_url: str) -> list[str]:
    """The client names of this process's connections, on every Redis node."""
    client = sync_client(redis_url)
    try:
        listed: Any = client.client_list()
        if isinstance(listed, dict):  # a cluster client answers per node
            rows = [row for node_rows in listed.values() for row in node_rows]
        else:
            rows = listed
    finally:
        client.close()
    mine = f"switchboard:{os.getpid()}:"
    return [row["name"] for row in rows if str(row.get("name", "")).startswith(mine)]


def _masters(redis_url: str) -> int:
    client = sync_client(redis_url)
    try:
        return len(client.get_primaries()) if hasattr(client, "get_primaries") else 1
    finally:
        client.close()


async def test_many_long_polls_hold_a_bounded_number_of_connections(
    small_pool_server: ServerThread, redis_url: str
) -> None:
    app: Any = small_pool_server.server.config.app
    waiters = app.state.switchboard.extras["sqs_waiters"]
    limits = httpx.Limits(max_connections=QUEUES + 10, max_keepalive_connections=QUEUES + 10)
    async with httpx.AsyncClient(base_url=small_pool_server.url, timeout=30, limits=limits) as client:
        urls = [(await _sqs(client, "CreateQueue", {"QueueName": f"poll-{n}"}))["QueueUrl"] for n in range(QUEUES)]
        other = (await _sqs(client, "CreateQueue", {"QueueName": "other"}))["QueueUrl"]

        wait_s = 6
        started = time.monotonic()
        polls = [
            asyncio.create_task(_sqs(client, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": wait_s}))
            for url in urls
        ]
        await eventually(  # each wait re-runs its receive every second: a few may be between two waits
            lambda: sum(1 for n in range(QUEUES) if waiters.waiting(f"poll-{n}")) >= QUEUES - 5,
            what="the long polls waiting",
        )

        names = _connections(redis_url)
        readers = [name for name in names if ":sqs-wait" in name]
        commands = [name for name in names if name.endswith(":commands")]
        assert 1 <= len(readers) <= _masters(redis_url), names
        assert len(commands) <= POOL * _masters(redis_url) * 2, names  # the pool's own bound, not the poll count

        # nothing a long poll holds is needed by other calls: these answer at once
        before = time.monotonic()
        await _sqs(client, "SendMessage", {"QueueUrl": other, "MessageBody": "now"})
        got = await _sqs(client, "ReceiveMessage", {"QueueUrl": other})
        assert [m["Body"] for m in got["Messages"]] == ["now"]
        assert time.monotonic() - before < 1.0

        # a message for one waiting queue ends that long poll at once
        sent_at = time.monotonic()
        await _sqs(client, "SendMessage", {"QueueUrl": urls[57], "MessageBody": "for 57"})
        answer = await asyncio.wait_for(polls[57], timeout=wait_s)
        assert [m["Body"] for m in answer["Messages"]] == ["for 57"]
        assert time.monotonic() - sent_at < 1.0
        assert time.monotonic() - started < wait_s

        rest = await asyncio.gather(*(poll for n, poll in enumerate(polls) if n != 57))
        assert all("Messages" not in r for r in rest)
        assert time.monotonic() - started >= wait_s - 0.5

        assert len([n for n in _connections(redis_url) if ":sqs-wait" in n]) <= _masters(redis_url)
