"""A real HTTP receiver on 127.0.0.1 for delivery tests: records every request, answers from a per-path script.

Each path answers with the statuses queued for it (`script("/p", [500, 500])`; then 200 forever), optionally after a
delay, and can act as an OAuth token endpoint. It runs a ThreadingHTTPServer in a daemon thread; `stop()` ends it.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)
    answered_at: float | None = None

    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._statuses: dict[str, deque[int]] = defaultdict(deque)
        self._delays: dict[str, float] = {}
        self._headers: dict[str, dict[str, str]] = {}
        self._tokens: dict[str, int] = {}
        self._token_prefixes: dict[str, str] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                status, payload, extra = receiver._respond(request)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer  # noqa: N815 (http.server's names)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, path: str, statuses: list[int], *, delay_s: float = 0.0, headers: dict[str, str] | None = None):
        with self._lock:
            self._statuses[path].extend(statuses)
            self._delays[path] = delay_s
            if headers:
                self._headers[path] = headers

    def token_endpoint(self, path: str, prefix: str = "t") -> None:
        """`path` issues tokens `t1`, `t2`, ... (client credentials grant; `prefix` instead of `t`)."""
        self._tokens[path] = 0
        self._token_prefixes[path] = prefix

    def _respond(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            self.requests.append(request)
            if request.path in self._tokens:
                self._tokens[request.path] += 1
                access_token = f"{self._token_prefixes.get(request.path, 't')}{self._tokens[request.path]}"
                token = {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600}
                return 200, orjson.dumps(token), {}
            queued = self._statuses.get(request.path)
            status = queued.popleft() if queued else 200
            delay = self._delays.get(request.path, 0.0)
            extra = self._headers.get(request.path, {}) if status != 200 else {}
        if delay:
            time.sleep(delay)
        request.answered_at = time.monotonic()
        return status, b"{}", extra

    def at(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
