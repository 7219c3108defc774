"""A hostile HTTP server on 127.0.0.1 for outbound-request tests: it drips its answer a byte at a time, or floods
a body far larger than anyone should read, and records what it saw.

It reads the request head (and a Content-Length body), then answers by its mode:
- `drip`: writes the first `at_once` bytes of `answer` (default none), then the rest one byte every `interval_s`
  (a slow status line, headers or body);
- `flood`: writes `answer` (a status line and headers), then zeros in 64 KiB blocks until the client hangs up or
  `flood_bytes` are written; `written` counts the body bytes that went out.
It runs a ThreadingTCPServer in a daemon thread; `stop()` ends it.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time


class HostileServer:
    def __init__(
        self, mode: str, answer: bytes, *, interval_s: float = 0.2, at_once: int = 0, flood_bytes: int = 1 << 30
    ) -> None:
        self.mode = mode
        self.at_once = at_once
        self.answer = answer
        self.interval_s = interval_s
        self.flood_bytes = flood_bytes
        self.written = 0
        self.requests: list[bytes] = []
        self.hung_up = threading.Event()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner.requests.append(_read_request(self.request))
                with contextlib.suppress(OSError):  # the client hung up
                    owner._answer(self.request)
                owner.hung_up.set()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _answer(self, sock: socket.socket) -> None:
        if self.mode == "drip":
            sock.sendall(self.answer[: self.at_once])
            for index in range(self.at_once, len(self.answer)):
                sock.sendall(self.answer[index : index + 1])
                time.sleep(self.interval_s)
            return
        sock.sendall(self.answer)
        block = b"\0" * 65536
        while self.written < self.flood_bytes:
            sock.sendall(block)
            self.written += len(block)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
