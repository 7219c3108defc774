"""The restJson1 wire layer, with recording handlers and no Redis: routing on raw paths, input assembly and
validation from the model, response serialization, and every error's status, header and body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from router.keys import Keys
from router.services import Services
from router.settings import Settings
from router.state import AppState
from schemas.api.protocol import Handler, iso8601
from schemas.errors import NotFoundException
from schemas.extension import service


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def handler(self, name: str, result: dict[str, Any] | None = None) -> Handler:
        async def run(state: AppState, params: dict[str, Any]) -> dict[str, Any] | None:
            self.calls.append((name, params))
            return result

        return run


async def _boom(state: AppState, params: dict[str, Any]) -> None:
    raise RuntimeError("a bug")


async def _missing(state: AppState, params: dict[str, Any]) -> None:
    raise NotFoundException("Registry with name x does not exist.")


@pytest.fixture
async def wire() -> AsyncIterator[tuple[httpx.AsyncClient, Recorder]]:
    recorder = Recorder()
    handlers = {
        "DescribeSchema": recorder.handler(
            "DescribeSchema", {"SchemaName": "s", "Tags": {"a": "b"}, "LastModified": 0.5, "Unknown": 1}
        ),
        "ListRegistries": recorder.handler("ListRegistries", {"Registries": [], "NextToken": None}),
        "UntagResource": recorder.handler("UntagResource"),
        "CreateRegistry": recorder.handler("CreateRegistry", {"RegistryName": "r"}),
        "GetCodeBindingSource": recorder.handler("GetCodeBindingSource", {"Body": b"PK\x03\x04zip"}),
        "DeleteRegistry": _boom,
        "DescribeRegistry": _missing,
    }

    services = Services()
    services.mount(service(handlers))
    app = Starlette(routes=[Mount("", app=services)])
    app.state.switchboard = AppState(settings=Settings(), redis=None, keys=Keys())  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://schemas.test") as client:
        yield client, recorder


AUTH = {"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/schemas/aws4_request, Signature=x"}


async def test_labels_are_split_on_the_raw_path_then_decoded(wire: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, recorder = wire
    response = await client.get("/v1/registries/name/r%40x/schemas/name/aws.partner%2Fa%40B?schemaVersion=2")
    assert response.status_code == 200
    assert recorder.calls == [
        ("DescribeSchema", {"RegistryName": "r@x", "SchemaName": "aws.partner/a@B", "SchemaVersion": "2"})
    ]
    # output: wire names from the model (`tags`), ISO 8601 timestamps, members outside the shape dropped
    assert response.json() == {"SchemaName": "s", "tags": {"a": "b"}, "LastModified": iso8601(0.5)}
    assert iso8601(0.5) == "1970-01-01T00:00:00.500Z"


async def test_query_members_are_typed_and_repeated_ones_are_lists(wire: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, recorder = wire
    assert (await client.get("/v1/registries?limit=5&scope=Local&registryNamePrefix=o")).status_code == 200
    arn = "arn%3Aaws%3Aschemas%3Aus-east-1%3A123456789012%3Aregistry%2Fr"
    assert (await client.delete(f"/tags/{arn}?tagKeys=a&tagKeys=b", headers=AUTH)).status_code == 204
    assert recorder.calls == [
        ("ListRegistries", {"Limit": 5, "Scope": "Local", "RegistryNamePrefix": "o"}),
        ("UntagResource", {"ResourceArn": "arn:aws:schemas:us-east-1:123456789012:registry/r", "TagKeys": ["a", "b"]}),
    ]


async def test_body_members_use_wire_names_and_the_status_is_the_models(
    wire: tuple[httpx.AsyncClient, Recorder],
) -> None:
    client, recorder = wire
    response = await client.post("/v1/registries/name/r", json={"Description": "d", "tags": {"k": "v"}})
    assert response.status_code == 201
    assert recorder.calls == [("CreateRegistry", {"RegistryName": "r", "Description": "d", "Tags": {"k": "v"}})]


async def test_a_payload_blob_is_the_raw_body(wire: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, _ = wire
    response = await client.get("/v1/registries/name/r/schemas/name/s/language/Python36/source")
    assert response.status_code == 200
    assert response.content == b"PK\x03\x04zip"


async def test_other_services_paths_are_not_claimed(wire: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, recorder = wire
    for path in ("/tags/arn%3Aaws%3Ascheduler%3Aus-east-1%3A1%3Aschedule%2Fx", "/v1/discoveries", "/2015-03-31/x"):
        response = await client.get(path)
        assert response.status_code in (400, 404), path
        assert "x-amzn-errortype" in response.headers
        assert "Schemas" not in response.headers["x-amzn-errortype"], path
    assert recorder.calls == []


def _error(response: httpx.Response) -> tuple[int, str, str, str]:
    body = orjson.loads(response.content)
    return response.status_code, response.headers["x-amzn-errortype"], body["Code"], body["Message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "message"),
    [
        ("GET", "/v1/registries/name/x", None, 404, "NotFoundException", "Registry with name x does not exist."),
        ("DELETE", "/v1/registries/name/x", None, 500, "InternalServerErrorException", "An internal error occurred."),
        ("GET", "/v1/registries/name/x/nothing", None, 404, "NotFoundException", "no operation at"),
        ("PATCH", "/v1/registries/name/x", None, 404, "NotFoundException", "no PATCH operation"),
        ("PUT", "/v1/registries/name/x", {}, 400, "UnsupportedOperationException", "UpdateRegistry is not supported"),
        ("POST", "/v1/registries/name/x", b"{nope", 400, "BadRequestException", "not valid JSON"),
        ("POST", "/v1/registries/name/x", b"[1]", 400, "BadRequestException", "must be a JSON object"),
        ("GET", "/v1/registries?limit=ten", None, 400, "BadRequestException", "limit must be an integer"),
        (
            "POST",
            "/v1/registries/name/x",
            {"Description": "d" * 257},
            400,
            "BadRequestException",
            "1 validation error detected: Value at 'description' failed to satisfy constraint: "
            "Member must have length less than or equal to 256",
        ),
        ("POST", "/v1/registries/name/x", {"tags": {"a": 1}}, 400, "BadRequestException", "'tags.a' must be a string"),
        (
            "POST",
            "/v1/registries/name/x/schemas/name/s",
            {"Content": ""},
            400,
            "BadRequestException",
            "2 validation errors detected: Value null at 'type' failed to satisfy constraint: Member must not be null; "
            "Value at 'content' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
    ],
)
async def test_errors_carry_the_header_the_body_and_their_own_status(  # noqa: PLR0917
    wire: tuple[httpx.AsyncClient, Recorder],
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str,
    message: str,
) -> None:
    client, _ = wire
    content = body if isinstance(body, bytes) else (orjson.dumps(body) if body is not None else None)
    response = await client.request(method, path, content=content)
    got_status, header, got_code, got_message = _error(response)
    assert (got_status, header, got_code) == (status, code, code)
    assert message.lower() in got_message.lower()
    assert response.headers["x-amzn-RequestId"]
