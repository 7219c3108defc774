"""The accepting half of PutEvents, in process: router CPU per event from the HTTP parser to the durable append.

Not a test. Run it as `.venv/bin/python -m bench.accept_bench` (BENCHMARKS.md has the recorded commands).

The real app (`router.app.create_app`, no ingest worker) behind the real front door (router.front_door's uvicorn
protocol, uvloop) on a throwaway redis-server (append-only file on): `--connections` protocol instances on in-memory
transports, each sending the scale bench's request (PutEvents of 10 entries, ~100-byte Detail) again as soon as its
answer is written, until `--requests` were answered. What it measures is the process's CPU time per accepted
event (`time.process_time`): HTTP parsing, the ASGI cycle, the PutEvents handler, the coalesced append to Redis (a
real socket) and the answer, without the HTTP socket system calls, the load generator or the ingest worker, so it
moves far less with the machine's load than `bench.scale_bench` does. `--trivial` answers every request with a
fixed body instead (the front door and uvicorn alone). Each round's figure is printed, then the median and minimum.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis
import uvicorn
import uvloop
from uvicorn.server import ServerState

from bench.delivery_bench import _wait
from router.app import create_app
from router.front_door import Limits, protocol_class
from router.matchers import HEAP
from router.settings import Settings

_DETAIL = orjson.dumps({"tag": "accept", "sent_ms": 1, "order": {"id": "o-1", "total": 42}}).decode()
_BODY = orjson.dumps({"Entries": [{"Source": "bench.delivery", "DetailType": "OrderPlaced", "Detail": _DETAIL}] * 10})
REQUEST = (
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1:4010\r\nX-Amz-Target: AWSEvents.PutEvents\r\n"
    b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


class _Transport(asyncio.Transport):
    """An in-memory transport: every response written ends with its JSON body's `}`."""

    def __init__(self, answered: Callable[[bytes], None]) -> None:
        super().__init__()
        self._answered = answered
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if bytes(data[-1:]) == b"}":
            self._answered(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 4010)}.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _trivial(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    headers = [(b"content-length", b"2"), (b"content-type", b"application/x-amz-json-1.1")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


async def _round(config: uvicorn.Config, requests: int, connections: int) -> tuple[float, int]:
    """(CPU seconds, answers that failed an entry) for `requests` requests on `connections` connections."""
    loop = asyncio.get_running_loop()
    protocol = config.http_protocol_class
    state = ServerState()
    left = requests
    answered = failed = 0
    done = loop.create_future()
    protocols: list[Any] = []

    def connect() -> Any:
        conn = protocol(config=config, server_state=state, app_state={}, _loop=loop)  # type: ignore[call-arg]

        def answer(data: bytes) -> None:
            nonlocal left, answered, failed
            answered += 1
            failed += b'"FailedEntryCount":0' not in data and b"{}" not in data[-2:]
            if left > 0:
                left -= 1
                loop.call_soon(conn.data_received, REQUEST)
            elif answered == requests and not done.done():
                done.set_result(None)

        conn.connection_made(_Transport(answer))
        return conn

    protocols = [connect() for _ in range(connections)]
    started = time.process_time()
    for conn in protocols:
        left -= 1
        loop.call_soon(conn.data_received, REQUEST)
    await done
    spent = time.process_time() - started
    await asyncio.sleep(0.05)
    for conn in protocols:
        conn.connection_lost(None)
    return spent, failed


async def _main(args: argparse.Namespace, redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, ingest_backlog_limit_events=1_000_000_000)
    app = create_app(settings, ingest=False)
    async with app.router.lifespan_context(app):
        HEAP.started()  # as `switchboard serve` does before it serves
        config = uvicorn.Config(
            _trivial if args.trivial else app,
            loop="uvloop",
            http=protocol_class(Limits()),
            lifespan="off",
            access_log=False,
            log_level="warning",
        )
        config.load()
        figures = []
        for number in range(args.rounds + 1):
            spent, failed = await _round(config, args.requests, args.connections)
            if failed:
                sys.exit(f"{failed} answers had failed entries")
            if number:  # the first round warms the process up
                figures.append(spent / (10 * args.requests) * 1e6)
    what = "front door only (--trivial)" if args.trivial else "PutEvents accepted"
    print(f"{what}: CPU µs per event per round: " + " ".join(f"{figure:.2f}" for figure in figures))
    median, least, load = statistics.median(figures), min(figures), os.getloadavg()[0]
    print(f"median {median:.2f}, min {least:.2f} (load average {load:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests (of 10 entries) per round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trivial", action="store_true", help="a fixed answer instead of the app")
    args = parser.parse_args()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    workdir = tempfile.mkdtemp(prefix="accept-bench-")
    exe = shutil.which("redis-server") or "redis-server"
    server = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: _ping(port), "redis-server")
        uvloop.run(_main(args, f"redis://127.0.0.1:{port}/0"))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _ping(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port).ping())
    except redis.ConnectionError:
        return False


if __name__ == "__main__":
    main()
