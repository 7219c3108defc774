"""An HTTP receiver in its own process (uvicorn on 127.0.0.1): answers 200 to every request and records the bodies.

For load-shaped tests (many targets delivering at once): a receiver thread in the test process would compete for the
test's GIL with the router under test. `GET /received` returns the recorded bodies as a JSON list.

Run: `python -m tests.router._counting_receiver PORT`.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

received: list[Any] = []


async def record(request: Request) -> Response:
    received.append(orjson.loads(await request.body()))
    return Response(b"{}", media_type="application/json")


async def listing(request: Request) -> Response:
    return Response(orjson.dumps(received), media_type="application/json")


app = Starlette(routes=[Route("/received", listing, methods=["GET"]), Route("/{path:path}", record, methods=["POST"])])


def wait_ready(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(f"{url}/received", timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", backlog=4096)
