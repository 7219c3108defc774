"""1,000 buses in one router process: each with a rule, a queue target and an API destination target, all delivering,
while the process's Redis connections stay bounded (issue 7, item 2).

Before bus partitions every bus loop held a pooled connection in a blocking XREADGROUP, so about 100 buses exhausted
the pool and every call then failed. Now one blocking read per partition covers all its buses' streams: a process
holds at most 2 reader connections per partition (ingest and delivery) plus its command pool, whatever the number
of buses. The connections are counted with CLIENT LIST on every node (the router names them `switchboard:<pid>:...`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.app import create_app
from router.keys import BUS_PARTITIONS, Keys
from router.quotas import Quotas
from router.redis_client import as_cluster
from router.settings import Settings
from tests.conftest import free_port
from tests.router._counting_receiver import wait_ready
from tests.router.conftest import Api

pytestmark = pytest.mark.integration

BUSES = 1_000
KEYS = Keys()
POOL = 8


async def _router_connections(redis: Any) -> list[int]:
    """Per node: the connections this process's router holds (by client name)."""
    prefix = f"switchboard:{os.getpid()}:"
    cluster = as_cluster(redis)
    if cluster is None:
        listings = [await redis.client_list()]
    else:
        replies: Any = await cluster.client_list(target_nodes=cluster.get_primaries())
        listings = list(replies.values())
    return [sum(1 for c in clients if str(c.get("name", "")).startswith(prefix)) for clients in listings]


async def create_buses(api: Api, buses: list[str], receiver_url: str) -> None:
    """Each bus with rule `r` (`{"source": ["m"]}`) and two targets: its own queue and one shared API destination
    pointing at `receiver_url` (also the set-up of `bench/abuse_bench.py buses`)."""
    connection = await api.ok(
        "CreateConnection",
        {
            "Name": "c",
            "AuthorizationType": "API_KEY",
            "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "x-key", "ApiKeyValue": "v"}},
        },
    )
    destination = await api.ok(
        "CreateApiDestination",
        {
            "Name": "d",
            "ConnectionArn": connection["ConnectionArn"],
            "InvocationEndpoint": f"{receiver_url}/hook",
            "HttpMethod": "POST",
            "InvocationRateLimitPerSecond": 5000,
        },
    )

    async def setup(bus: str) -> None:
        await api.ok("CreateEventBus", {"Name": bus})
        await api.ok("PutRule", {"Name": "r", "EventBusName": bus, "EventPattern": '{"source": ["m"]}'})
        targets = [
            {"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:123456789012:q-{bus}"},
            {"Id": "http", "Arn": destination["ApiDestinationArn"]},
        ]
        await api.ok("PutTargets", {"Rule": "r", "EventBusName": bus, "Targets": targets})

    for start in range(0, len(buses), 50):
        await asyncio.gather(*(setup(bus) for bus in buses[start : start + 50]))


async def publish_one_each(api: Api, buses: list[str]) -> None:
    """One event into each bus (ten buses per PutEvents call), its Detail naming the bus."""
    for start in range(0, len(buses), 10):
        entries = [
            {"Source": "m", "DetailType": "t", "Detail": f'{{"bus": "{bus}"}}', "EventBusName": bus}
            for bus in buses[start : start + 10]
        ]
        result = await api.ok("PutEvents", {"Entries": entries})
        assert result["FailedEntryCount"] == 0, result


async def wait_delivered(receiver_url: str, count: int, timeout_s: float) -> list[Any]:
    """The receiver's bodies once it holds `count` of them (fails past the deadline)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=receiver_url) as http:
        while len(received := (await http.get("/received")).json()) < count:
            assert time.monotonic() < deadline, f"{len(received)} of {count} HTTP deliveries"
            await asyncio.sleep(0.1)
    return list(received)


@pytest.fixture
def receiver_url() -> Iterator[str]:
    """A receiver in its own process (one in this process would compete with the router for the GIL)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    receiver = subprocess.Popen([sys.executable, "-m", "tests.router._counting_receiver", str(port)])
    try:
        wait_ready(url)
        yield url
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


async def test_a_thousand_buses_all_deliver_with_bounded_connections(
    redis_url: str, redis_kind: str, redis_client: Any, tmp_path: Path, receiver_url: str
) -> None:
    quotas = Quotas(event_buses=BUSES + 1)  # AWS's default is 100 buses (raisable): the point is to go well beyond
    settings = Settings(redis_url=redis_url, data_dir=tmp_path, redis_max_connections=POOL, quotas=quotas)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            api = Api(client, app)
            buses = [f"bus-{n:04d}" for n in range(BUSES)]
            await create_buses(api, buses, receiver_url)
            await publish_one_each(api, buses)
            received = await wait_delivered(receiver_url, BUSES, timeout_s=120)
            per_node = await _router_connections(app.state.switchboard.redis)

            async with redis_client.pipeline(transaction=False) as pipe:
                for bus in buses:
                    pipe.xlen(KEYS.queue(f"q-{bus}"))
                lengths = await pipe.execute()
            assert lengths == [1] * BUSES  # every queue target got its one event, once
            delivered = sorted(body["detail"]["bus"] for body in received)
            assert delivered == buses  # every API destination target got its bus's event, once
    # Readers: at most 2 per partition (ingest and delivery), wherever its slot is; plus the command pool on each
    # node (a cluster's node pools may open up to twice the pool under a burst). Never one per bus.
    pool_per_node = POOL if redis_kind == "single" else 2 * POOL
    assert sum(per_node) <= 2 * BUS_PARTITIONS + pool_per_node * len(per_node), per_node
    assert sum(per_node) < BUSES / 4
