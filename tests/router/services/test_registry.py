"""router.services.registry: which mounted service a request reaches, and the errors for the rest (in process)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from router.services import NOT_SERVED_CODE, Service, Services

AUTH = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0"


def answering(name: str) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = (await Request(scope, receive).body()).decode()
        await PlainTextResponse(f"{name}:{scope['path']}:{body}")(scope, receive, send)

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    services = Services()
    services.mount(Service("events", "Amazon EventBridge", answering("events"), targets=("AWSEvents",)))
    services.mount(
        Service("schemas", "Schemas", answering("schemas"), signing_names=("schemas",), paths=("/v1/registries",))
    )
    services.mount(
        Service("scheduler", "Scheduler", answering("scheduler"), match=lambda r: r.url.path.startswith("/schedules"))
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=services), base_url="http://sb.test") as c:
        yield c


async def test_target_prefix_reaches_its_service_with_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/", content=b"{}", headers={"X-Amz-Target": "AWSEvents.ListRules"})
    assert response.text == "events:/:{}"


async def test_signing_name_beats_paths_and_paths_take_subpaths(client: httpx.AsyncClient) -> None:
    signed = await client.get("/anything", headers={"Authorization": AUTH.format("schemas")})
    assert signed.text == "schemas:/anything:"
    assert (await client.get("/v1/registries/name/r1")).text == "schemas:/v1/registries/name/r1:"
    assert (await client.get("/v1/registries")).text == "schemas:/v1/registries:"
    assert (await client.get("/schedules/s1")).text == "scheduler:/schedules/s1:"


async def test_request_signed_for_an_unmounted_service_never_reaches_a_path_owner(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/registries", headers={"Authorization": AUTH.format("lambda")})
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == NOT_SERVED_CODE
    message = response.json()["message"]
    assert message.startswith("Switchboard does not serve AWS Lambda (lambda).")
    assert "Amazon EventBridge (events), Schemas (schemas), Scheduler (scheduler)" in message


async def test_unknown_json_target_of_a_known_service(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/",
        content=b"{}",
        headers={"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/x-amz-json-1.0"
    body = orjson.loads(response.content)
    assert body["__type"] == NOT_SERVED_CODE
    assert body["message"].startswith("Switchboard does not serve Amazon DynamoDB (dynamodb). This endpoint serves:")
    assert response.headers["x-amzn-requestid"]


async def test_unsigned_query_protocol_is_identified_by_version(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/",
        content=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Type>Sender</Type><Code>ServiceNotServedException</Code>" in response.text
    assert "AWS Security Token Service (sts)" in response.text


async def test_nothing_identifies_the_request(client: httpx.AsyncClient) -> None:
    missing_target = await client.post("/", content=b"{}")
    assert missing_target.status_code == 400
    assert orjson.loads(missing_target.content)["__type"] == "UnknownOperationException"
    assert missing_target.headers["content-type"] == "application/x-amz-json-1.1"
    elsewhere = await client.get("/nowhere")
    assert elsewhere.status_code == 404
    assert elsewhere.headers["x-amzn-errortype"] == "UnknownOperationException"
    assert elsewhere.json()["message"].startswith("Switchboard serves no API at GET /nowhere.")


async def test_signed_request_of_a_mounted_service_without_an_operation(client: httpx.AsyncClient) -> None:
    response = await client.post("/", content=b"{}", headers={"Authorization": AUTH.format("events")})
    assert response.status_code == 400
    assert orjson.loads(response.content) == {
        "__type": "UnknownOperationException",
        "message": "Unknown operation (missing X-Amz-Target header).",
    }


async def test_head_requests_get_no_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/bucket", headers={"Authorization": AUTH.format("s3")})
    assert response.status_code == 400
    assert response.content == b""


def test_mounting_twice_is_refused() -> None:
    services = Services()
    services.mount(Service("events", "E", answering("e"), targets=("AWSEvents",)))
    with pytest.raises(ValueError, match="already mounted"):
        services.mount(Service("other", "O", answering("o"), targets=("AWSEvents",)))
    with pytest.raises(ValueError, match="must start with /"):
        services.mount(Service("other", "O", answering("o"), paths=("v1",)))
