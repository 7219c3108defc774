"""The request an API destination delivery builds (router.delivery.api_destinations), checked without a server:
httpx's MockTransport records what would go on the wire; the destination, credentials and rate limit are stubs."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from router.connections.auth import Authorization
from router.delivery.api_destinations import ApiDestinationTransport
from router.delivery.jobs import Job
from router.transform import MAX_INPUT_BYTES

ARN = "arn:aws:events:us-east-1:123456789012:api-destination/d/00000000-0000-0000-0000-000000000000"


class _Stubs:
    """The destination store, authorizer and rate limiter the transport asks (no Redis)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def for_arn(self, arn: str) -> _Stubs:
        return self  # one namespace

    def rate_name(self, destination: dict[str, Any]) -> str:
        return str(destination["Name"])

    async def destination_by_arn(self, arn: str) -> dict[str, Any]:
        return {"Name": "d", "InvocationEndpoint": self.endpoint, "HttpMethod": "POST", "ConnectionArn": "conn"}

    async def authorize(self, connection_arn: str) -> Authorization:
        return Authorization(headers={"x-api-key": "k"}, query={"secret": "s"}, body={"added": "by-connection"})

    def invalidate(self, connection_arn: str) -> None:
        return None

    async def acquire(self, destination: str, limit_per_s: int) -> None:
        return None


def _job(detail: dict[str, Any], http: dict[str, Any], *, hops: int = 0, payload: bytes | None = b'{"a":1}') -> Job:
    event = orjson.dumps({"id": "e1", "source": "s", "detail": detail})
    target = {"Id": "t", "Arn": ARN, "HttpParameters": http}
    job = Job(b"1-0", "e1:r:t", event, "r", orjson.dumps(target), target, 0, 0, hops)
    job.payload = payload
    return job


async def _deliver(job: Job, endpoint: str = "https://h.example/api/*") -> tuple[Any, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    stubs = _Stubs(endpoint)
    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
        transport = ApiDestinationTransport(stubs, stubs, stubs, client)  # type: ignore[arg-type]
        (failure,) = await transport.deliver([job])
    return failure, sent


async def test_the_request_carries_the_encoded_path_the_hops_and_the_merged_body() -> None:
    failure, (request,) = await _deliver(_job({}, {"PathParameterValues": ["a/b"]}, hops=3))
    assert failure is None
    assert request.url.raw_path == b"/api/a%2Fb?secret=s"
    assert request.headers["X-Switchboard-Hops"] == "3"
    assert request.headers["X-Switchboard-Delivery-Id"] == "e1:r:t"
    assert orjson.loads(request.content) == {"a": 1, "added": "by-connection"}


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "nul\x00", "bell\x07", "del\x7f"])
async def test_a_control_character_from_the_event_fails_for_good_and_nothing_is_sent(value: str) -> None:
    failure, sent = await _deliver(_job({"h": value}, {"HeaderParameters": {"X-From-Event": "$.detail.h"}}))
    assert sent == []
    assert failure is not None
    assert (failure.code, failure.retryable) == ("INPUT_ERROR", False)
    assert failure.message == "Header X-From-Event contains a control character (CR, LF, NUL, ...); it cannot be sent."
    assert value not in failure.message


async def test_a_tab_and_unicode_in_a_header_from_the_event_are_sent() -> None:
    failure, (request,) = await _deliver(_job({"h": "a\tZoë"}, {"HeaderParameters": {"X-From-Event": "$.detail.h"}}))
    assert failure is None
    assert dict(request.headers.raw)[b"X-From-Event"] == "a\tZoë".encode()


async def test_a_dynamic_value_over_the_input_limit_fails_for_good() -> None:
    detail = {"big": ["x" * 1000] * (MAX_INPUT_BYTES // 1000 + 1)}
    failure, sent = await _deliver(_job(detail, {"QueryStringParameters": {"q": "$.detail.big"}}))
    assert sent == []
    assert failure is not None
    assert (failure.code, failure.retryable) == ("INPUT_ERROR", False)


async def test_a_deep_body_is_merged_with_the_connection_body_parameters() -> None:
    deep = '{"a":' * 400 + "1" + "}" * 400  # deeper than orjson encodes
    failure, (request,) = await _deliver(_job({}, {}, payload=deep.encode()))
    assert failure is None
    assert request.content == ('{"a":' * 400 + "1" + "}" * 399 + ',"added":"by-connection"}').encode()
