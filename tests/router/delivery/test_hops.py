"""The event-bus hop bound covers HTTP too: a router's own HTTP deliveries carry `X-Switchboard-Hops`, PutEvents
counts the hop, and an API destination pointing at its own router's PutEvents stops after the bound instead of
feeding the bus forever."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from router.app import create_app
from router.delivery import Backoff, Delivery, WorkerOptions
from router.delivery.bus_target import MAX_BUS_HOPS
from router.settings import Settings
from router.state import AppState
from tests.conftest import sync_client
from tests.router.conftest import Api, ServerThread, serving
from tests.router.delivery.conftest import KEYS, queue_arn
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

ENTRY = {"Source": "loop", "DetailType": "again", "Detail": '{"n": 1}'}


@pytest.fixture
async def wire(redis_url: str) -> AsyncIterator[Api]:
    """The app with no ingest worker: what PutEvents appended stays in the stream for the test to read (a worker's
    maintenance round may trim an entry it has acknowledged, which a loaded machine made happen mid-test)."""
    app = create_app(Settings(redis_url=redis_url), ingest=False)
    async with serving(app) as api:
        yield api


async def test_put_events_counts_the_hop_of_a_request_that_carries_one(wire: Api, redis_client: Any) -> None:
    body = orjson.dumps({"Entries": [ENTRY]})
    plain = await wire.raw("PutEvents", body)
    first = await wire.raw("PutEvents", body, headers={"X-Switchboard-Hops": "0"})  # from an event put directly
    last = await wire.raw("PutEvents", body, headers={"X-Switchboard-Hops": str(MAX_BUS_HOPS - 1)})
    assert plain.status_code == first.status_code == last.status_code == 200
    entries = await redis_client.xrange(KEYS.ingest("default"))
    by_id = {orjson.loads(fields[b"event"])["id"]: fields for _, fields in entries}

    def stored(response: Any) -> dict[bytes, bytes]:
        return by_id[orjson.loads(response.content)["Entries"][0]["EventId"]]  # type: ignore[no-any-return]

    assert b"hops" not in stored(plain)
    assert stored(first)[b"hops"] == b"1"
    assert stored(last)[b"hops"] == str(MAX_BUS_HOPS).encode()


@pytest.mark.parametrize("hops", [MAX_BUS_HOPS, MAX_BUS_HOPS + 1, 10**17])
async def test_put_events_refuses_a_request_at_the_hop_bound(wire: Api, redis_client: Any, hops: int) -> None:
    response = await wire.raw(
        "PutEvents", orjson.dumps({"Entries": [ENTRY]}), headers={"X-Switchboard-Hops": str(hops)}
    )
    assert response.status_code == 400
    assert orjson.loads(response.content) == {
        "__type": "ValidationException",
        "message": f"The events already passed through {hops} event buses (X-Switchboard-Hops: {hops}); "
        f"{MAX_BUS_HOPS} is the most an event may pass through, so they were not put (loop protection).",
    }
    assert await redis_client.xlen(KEYS.ingest("default")) == 0


@pytest.mark.parametrize("value", ["x", "-1", "1.5", ""])
async def test_an_unreadable_hop_header_counts_as_none(wire: Api, redis_client: Any, value: str) -> None:
    response = await wire.raw("PutEvents", orjson.dumps({"Entries": [ENTRY]}), headers={"X-Switchboard-Hops": value})
    assert response.status_code == 200
    ((_, fields),) = await redis_client.xrange(KEYS.ingest("default"))
    assert b"hops" not in fields


async def test_a_hop_header_of_many_digits_is_refused_not_parsed(wire: Api, redis_client: Any) -> None:
    response = await wire.raw(
        "PutEvents", orjson.dumps({"Entries": [ENTRY]}), headers={"X-Switchboard-Hops": "9" * 5000}
    )
    assert response.status_code == 400
    assert orjson.loads(response.content)["__type"] == "ValidationException"


# --- end to end: an API destination pointing at its own router ---------------------------------------------


@pytest.fixture
def router_server(redis_url: str, tmp_path: Path) -> Iterator[ServerThread]:
    settings = Settings(redis_url=redis_url, data_dir=tmp_path, rules_refresh_interval_s=0.05)

    def delivery(state: AppState) -> Delivery:
        options = WorkerOptions(visibility_timeout_s=5.0, claim_interval_s=0.2, block_ms=100, lanes_refresh_s=0.1)
        return Delivery(state, backoff=Backoff(base_s=0.05, cap_s=0.2), options=options)

    server = ServerThread(create_app(settings, delivery=delivery))
    server.start()
    yield server
    server.stop()


def _call(server: ServerThread, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"X-Amz-Target": f"AWSEvents.{operation}", "Content-Type": "application/x-amz-json-1.1"}
    response = httpx.post(f"{server.url}/", content=orjson.dumps(body), headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return orjson.loads(response.content) if response.content else {}


def test_an_api_destination_pointing_at_its_own_router_stops_at_the_hop_bound(
    router_server: ServerThread, redis_url: str
) -> None:
    connection = _call(
        router_server,
        "CreateConnection",
        {
            "Name": "self",
            "AuthorizationType": "API_KEY",
            "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k"}},
        },
    )
    destination = _call(
        router_server,
        "CreateApiDestination",
        {
            "Name": "self",
            "ConnectionArn": connection["ConnectionArn"],
            "InvocationEndpoint": f"{router_server.url}/",
            "HttpMethod": "POST",
        },
    )
    _call(router_server, "PutRule", {"Name": "loop", "EventPattern": '{"source": ["loop"]}'})
    targets = [
        {
            "Id": "again",
            "Arn": destination["ApiDestinationArn"],
            "Input": orjson.dumps({"Entries": [ENTRY]}).decode(),  # every delivery puts the event again
            "HttpParameters": {"HeaderParameters": {"X-Amz-Target": "AWSEvents.PutEvents"}},
            "DeadLetterConfig": {"Arn": queue_arn("dlq")},
        },
        {"Id": "seen", "Arn": queue_arn("seen")},
    ]
    _call(router_server, "PutTargets", {"Rule": "loop", "Targets": targets})
    _call(router_server, "PutEvents", {"Entries": [ENTRY]})

    client: Any = sync_client(redis_url)
    try:
        eventually_sync(lambda: client.xlen(KEYS.queue("dlq")) == 1, 20, what="the refused put in the DLQ")
        eventually_sync(lambda: client.xlen(KEYS.queue("seen")) == MAX_BUS_HOPS + 1, what="every event of the chain")
        ((_, message),) = client.xrange(KEYS.queue("dlq"))
        attributes = orjson.loads(message[b"attributes"])
        assert (attributes["ERROR_CODE"], attributes["ERROR_MESSAGE"]) == ("CLIENT_ERROR", "HTTP 400: Bad Request")
        seen = [orjson.loads(fields[b"body"]) for _, fields in client.xrange(KEYS.queue("seen"))]
        assert len({event["id"] for event in seen}) == MAX_BUS_HOPS + 1  # the seed, then one per hop

        def counted() -> bool:
            raw: Any = client.hgetall(KEYS.bus_counters("default"))
            return int(raw.get(b"Invocations:loop", 0)) == 2 * (MAX_BUS_HOPS + 1)

        eventually_sync(
            counted, what="every delivery of the chain to settle"
        )  # 6 to the queue, 6 calls: 5 put, 1 refused
        assert client.xlen(KEYS.queue("seen")) == MAX_BUS_HOPS + 1
        assert client.xlen(KEYS.queue("dlq")) == 1
    finally:
        client.close()
