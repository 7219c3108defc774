"""PutEvents over the wire, in process: positional results, per-entry and whole-request failures, the envelope
stored in the bus's ingest stream, and the keys the operation leaves behind."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from router.app import create_app
from router.keys import Keys
from tests.conftest import all_keys
from tests.router.conftest import Api, make_settings, serving

pytestmark = pytest.mark.integration

KEYS = Keys()


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    """The app with no ingest worker: nothing reads or trims the ingest streams, so they show exactly what PutEvents
    stored. (With a worker, a recovery round that trims the processed entries can empty the stream between the
    answer and the read.)"""
    app = create_app(make_settings(redis_url), ingest=False)
    async with serving(app) as api:
        yield api


def entry(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Source": "com.example.orders", "DetailType": "OrderPlaced", "Detail": '{"id": 1}'}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


async def stored(redis: aioredis.Redis, bus: str = "default") -> list[dict[str, Any]]:
    entries: Any = await redis.xrange(KEYS.ingest(bus))
    return [orjson.loads(fields[b"event"]) for _, fields in entries]


async def test_success_entries_carry_only_an_event_id_and_land_in_the_stream(
    api: Api, redis_client: aioredis.Redis
) -> None:
    result = await api.ok("PutEvents", {"Entries": [entry(), entry(Detail='{"id": 2}')]})
    assert result["FailedEntryCount"] == 0
    assert [set(e) for e in result["Entries"]] == [{"EventId"}, {"EventId"}]
    events = await stored(redis_client)
    assert [e["id"] for e in events] == [e["EventId"] for e in result["Entries"]]
    assert [e["detail"] for e in events] == [{"id": 1}, {"id": 2}]


async def test_results_are_positional_and_each_entry_fails_alone(api: Api, redis_client: aioredis.Redis) -> None:
    body = {
        "Entries": [
            entry(),
            entry(Source=None),
            entry(DetailType=None),
            entry(Detail=None),
            entry(Detail="[1, 2]"),
            entry(Detail="{not json"),
            entry(EventBusName="no-such-bus"),
            entry(Detail='{"ok": true}'),
        ]
    }
    result = await api.ok("PutEvents", body)
    entries = result["Entries"]
    assert result["FailedEntryCount"] == 6
    assert set(entries[0]) == {"EventId"}
    assert entries[1] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument.",
    }
    assert entries[2] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
    }
    assert entries[3] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Detail is not valid. Reason: Detail is a required argument.",
    }
    assert entries[4] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert entries[5] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert entries[6] == {
        "ErrorCode": "ResourceNotFoundException",
        "ErrorMessage": "Event bus no-such-bus does not exist.",
    }
    assert set(entries[7]) == {"EventId"}
    events = await stored(redis_client)
    assert [e["id"] for e in events] == [entries[0]["EventId"], entries[7]["EventId"]]
    assert await redis_client.exists(KEYS.ingest("no-such-bus")) == 0  # no bus, no worker, no stream


async def test_detail_nested_1000_deep_is_accepted_and_1001_is_malformed(api: Api) -> None:
    def nested(depth: int) -> str:
        return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)

    result = await api.ok("PutEvents", {"Entries": [entry(Detail=nested(1000)), entry(Detail=nested(1001))]})
    assert set(result["Entries"][0]) == {"EventId"}
    assert result["Entries"][1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}


async def test_envelope_has_aws_fields_in_order_with_time_from_the_entry(
    api: Api, redis_client: aioredis.Redis
) -> None:
    resources = ["arn:aws:s3:::bucket-a", "arn:aws:s3:::bucket-b"]
    result = await api.ok(
        "PutEvents",
        {"Entries": [entry(Time=1704067200, Resources=resources), entry(Time=1704067200.75)]},
    )
    first, second = await stored(redis_client)
    assert list(first) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert first == {
        "version": "0",
        "id": result["Entries"][0]["EventId"],
        "detail-type": "OrderPlaced",
        "source": "com.example.orders",
        "account": "123456789012",
        "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": resources,
        "detail": {"id": 1},
    }
    assert second["time"] == "2024-01-01T00:00:00Z"
    assert second["resources"] == []


async def test_envelope_time_defaults_to_the_call_time(api: Api, redis_client: aioredis.Redis) -> None:
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    await api.ok("PutEvents", {"Entries": [entry()]})
    after = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    (event,) = await stored(redis_client)
    assert before <= event["time"] <= after


async def test_event_bus_name_may_be_our_arn_but_not_another_accounts(api: Api, redis_client: aioredis.Redis) -> None:
    ours = "arn:aws:events:us-east-1:123456789012:event-bus/default"
    theirs = "arn:aws:events:us-east-1:999999999999:event-bus/default"
    result = await api.ok("PutEvents", {"Entries": [entry(EventBusName=ours), entry(EventBusName=theirs)]})
    assert set(result["Entries"][0]) == {"EventId"}
    assert result["Entries"][1] == {
        "ErrorCode": "ResourceNotFoundException",
        "ErrorMessage": "Event bus default does not exist.",
    }
    assert len(await stored(redis_client)) == 1


async def test_entries_for_several_buses_go_to_each_bus_stream(api: Api, redis_client: aioredis.Redis) -> None:
    await api.ok("CreateEventBus", {"Name": "orders"})
    result = await api.ok(
        "PutEvents",
        {"Entries": [entry(EventBusName="orders"), entry(), entry(EventBusName="orders", Detail='{"id": 3}')]},
    )
    ids = [e["EventId"] for e in result["Entries"]]
    assert [e["id"] for e in await stored(redis_client, "orders")] == [ids[0], ids[2]]
    assert [e["id"] for e in await stored(redis_client, "default")] == [ids[1]]


async def test_eleven_entries_fail_the_whole_request(api: Api, redis_client: aioredis.Redis) -> None:
    status, code, message = await api.error("PutEvents", {"Entries": [entry()] * 11})
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("1 validation error detected: Value '[PutEventsRequestEntry(")
    assert message.endswith(
        "at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10"
    )
    assert await redis_client.xlen(KEYS.ingest("default")) == 0


async def test_no_entries_fail_the_whole_request(api: Api) -> None:
    assert await api.error("PutEvents", {"Entries": []}) == (
        400,
        "ValidationException",
        "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    )


def _sized(total_bytes: int, *, with_time: bool) -> dict[str, Any]:
    """One entry whose AWS size is exactly `total_bytes` (Source 1 + DetailType 1 + Detail, + 14 with Time)."""
    overhead = 1 + 1 + 8 + (14 if with_time else 0)  # "a", "b", '{"x":""}' and Time
    detail = '{"x":"' + "y" * (total_bytes - overhead) + '"}'
    body: dict[str, Any] = {"Source": "a", "DetailType": "b", "Detail": detail}
    if with_time:
        body["Time"] = 1704067200
    return body


@pytest.mark.parametrize("with_time", [False, True])
async def test_total_size_at_the_limit_is_accepted_and_one_byte_more_is_refused(
    api: Api, redis_client: aioredis.Redis, with_time: bool
) -> None:
    limit = 1_048_576
    half = limit // 2
    ok = await api.ok("PutEvents", {"Entries": [_sized(half, with_time=with_time), _sized(half, with_time=False)]})
    assert ok["FailedEntryCount"] == 0
    too_big = {"Entries": [_sized(half + 1, with_time=with_time), _sized(half, with_time=False)]}
    assert await api.error("PutEvents", too_big) == (
        400,
        "ValidationException",
        "Total size of the entries in the request is over the limit.",
    )
    assert len(await stored(redis_client)) == 2


async def test_size_counts_utf8_bytes_and_resources(api: Api) -> None:
    limit = 1_048_576
    # 'é' is 2 bytes in UTF-8: 1 byte over the limit only if the size counts bytes, not characters.
    resources = ["r" * 100]
    detail = '{"x":"' + "é" * ((limit - 2 - 8 - 100) // 2) + '"}'
    body = {"Entries": [{"Source": "a", "DetailType": "b", "Detail": detail, "Resources": resources}]}
    assert (limit - 2 - 8 - 100) % 2 == 0  # so the entry is exactly at the limit
    assert (await api.ok("PutEvents", body))["FailedEntryCount"] == 0
    body["Entries"][0]["Resources"] = ["r" * 101]
    assert (await api.error("PutEvents", body))[2] == "Total size of the entries in the request is over the limit."


async def test_malformed_json_body_is_a_serialization_exception(api: Api) -> None:
    response = await api.raw("PutEvents", b'{"Entries": [')
    assert response.status_code == 400
    assert orjson.loads(response.content) == {
        "__type": "SerializationException",
        "message": "Request body is not valid JSON.",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Entries": "x"}, "Member Entries must be a list, not a string."),
        ({"Entries": [{"Source": 5, "DetailType": "b", "Detail": "{}"}]}, "Member Entries[0].Source must be a string"),
        ({"Entries": [{"Source": "a", "Resources": "r"}]}, "Member Entries[0].Resources must be a list"),
        ({"Entries": [{"Source": "a", "Time": True}]}, "Member Entries[0].Time must be a number"),
    ],
)
async def test_wrong_json_types_fail_the_whole_request(
    api: Api, redis_client: aioredis.Redis, body: dict[str, Any], message: str
) -> None:
    status, code, text = await api.error("PutEvents", body)
    assert (status, code) == (400, "SerializationException")
    assert text.startswith(message)
    assert await redis_client.xlen(KEYS.ingest("default")) == 0


async def test_put_events_leaves_only_the_ingest_stream_behind(api: Api, redis_client: aioredis.Redis) -> None:
    before = await all_keys(redis_client)
    await api.ok("PutEvents", {"Entries": [entry()]})
    after = await all_keys(redis_client)
    assert after - before <= {KEYS.ingest("default").encode(), KEYS.bus_counters("default").encode()}
    assert KEYS.ingest("default").encode() in after


async def test_event_ids_of_a_request_are_distinct_version_4_uuids(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    # No ingest worker: it trims the entries it has processed (XTRIM MINID ~, whole 100-entry nodes), which on a
    # loaded machine happened before the 200 entries were read back (a flake).
    from tests.router.control_plane import control_api

    ids = []
    async with control_api(redis_url) as api:
        for _ in range(20):
            result = await api.ok("PutEvents", {"Entries": [entry()] * 10})
            ids += [e["EventId"] for e in result["Entries"]]
    assert len(set(ids)) == 200
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)
    assert [e["id"] for e in await stored(redis_client)] == ids


async def test_the_size_limit_fails_the_request_even_when_an_earlier_entry_fails_alone(
    api: Api, redis_client: aioredis.Redis
) -> None:
    # Types, size and envelopes are one pass over the entries (router.api.put_events._sized_envelopes): a per-entry
    # failure found on the way is dropped when the whole request is over the limit, as when size came first.
    big = '{"x": "' + "y" * (1024 * 1024) + '"}'
    status, code, text = await api.error("PutEvents", {"Entries": [entry(Source=None), entry(Detail=big)]})
    assert (status, code, text) == (
        400,
        "ValidationException",
        "Total size of the entries in the request is over the limit.",
    )
    assert await redis_client.xlen(KEYS.ingest("default")) == 0


async def test_a_request_over_the_off_loop_size_is_answered_as_a_small_one(
    api: Api, redis_client: aioredis.Redis
) -> None:
    # Past OFF_LOOP_BYTES the one pass gives up and the envelopes are built in a worker thread: the same positional
    # results, the same envelopes.
    from router.ingest import OFF_LOOP_BYTES

    big = '{"x": "' + "y" * OFF_LOOP_BYTES + '"}'
    body = {"Entries": [entry(Source=None), entry(Detail=big), entry(Detail="[1]"), entry()]}
    result = await api.ok("PutEvents", body)
    assert result["FailedEntryCount"] == 2
    assert result["Entries"][0] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument.",
    }
    assert result["Entries"][2] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    events = await stored(redis_client)
    assert [e["id"] for e in events] == [result["Entries"][1]["EventId"], result["Entries"][3]["EventId"]]
    assert [len(e["detail"]["x"]) if "x" in e["detail"] else e["detail"] for e in events] == [OFF_LOOP_BYTES, {"id": 1}]
