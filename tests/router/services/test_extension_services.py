"""An extension's `services` are mounted on the one port's registry: their requests reach them, the rest is not
served (the router never imports the extension's package)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import request_response

from router.app import create_app
from router.extensions import Extension
from router.services import NOT_SERVED_CODE, Service
from tests.router.conftest import make_settings

pytestmark = pytest.mark.integration

AUTH = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0"


async def registries(request: Request) -> Response:
    return JSONResponse({"Registries": [], "path": request.url.path})


async def test_extension_service_is_mounted(redis_url: str) -> None:
    schemas = Service("schemas", "Schemas", request_response(registries), signing_names=("schemas",))
    app = create_app(make_settings(redis_url), ingest=False, extensions=[Extension(name="demo", services=[schemas])])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sb.test") as client:
            served = await client.get("/v1/registries", headers={"Authorization": AUTH.format("schemas")})
            assert served.json() == {"Registries": [], "path": "/v1/registries"}
            other = await client.get("/2015-03-31/functions", headers={"Authorization": AUTH.format("lambda")})
            assert other.headers["x-amzn-errortype"] == NOT_SERVED_CODE
            served_list = (
                "Amazon EventBridge (events), Amazon Simple Queue Service (sqs), "
                "Amazon EventBridge Scheduler (scheduler), Schemas (schemas)."
            )
            assert f"This endpoint serves: {served_list}" in other.json()["message"]
            events = await client.post("/", content=b"{}", headers={"X-Amz-Target": "AWSEvents.ListEventBuses"})
            assert orjson.loads(events.content)["EventBuses"][0]["Name"] == "default"
