"""A tiny OAuth token endpoint on 127.0.0.1 for the connection tests (unit and integration alike): it records each
request and answers with numbered tokens, an adjustable status and `expires_in`."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class TokenServer:
    """A tiny OAuth token endpoint on 127.0.0.1: records each request, answers with numbered tokens."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.expires_in: int | None = 3600
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                url = urllib.parse.urlsplit(self.path)
                owner.requests.append(
                    {
                        "method": self.command,
                        "path": url.path,
                        "query": dict(urllib.parse.parse_qsl(url.query)),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": dict(urllib.parse.parse_qsl(self.rfile.read(length).decode())),
                    }
                )
                payload: dict[str, Any] = {"access_token": f"token-{len(owner.requests)}", "token_type": "Bearer"}
                if owner.expires_in is not None:
                    payload["expires_in"] = owner.expires_in
                data = json.dumps(payload).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self._answer()

            def do_GET(self) -> None:
                self._answer()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/oauth/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
