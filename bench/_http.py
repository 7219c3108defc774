"""A minimal HTTP/1.1 keep-alive client for load generators: a pool of asyncio connections, one request in flight on
each, the request head precomputed, the response read by its Content-Length.

It sends the same requests as httpx would (POST / with the given headers), for a fraction of httpx's CPU per
request: on a 2-core machine the load generator shares the cores with the server under test and Redis, and with
httpx it used about one core by itself (top: ~93%) while the router was not saturated (delivery bench)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

__all__ = ["RawHttp"]


class RawHttp:
    def __init__(self, url: str, headers: Mapping[str, str]) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self._head = (
            f"POST / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "Content-Length: "
        ).encode()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, body: bytes) -> bytes:
        return (await self.request(body))[1]

    async def request(self, body: bytes) -> tuple[int, bytes]:
        """(status, body) of one POST. A kept-alive connection the server closed meanwhile (its idle timeout: an
        empty read, or a reset when the close crossed the request) is replaced and the request sent again, as HTTP
        clients do: the server had read nothing on it."""
        while self._idle:
            try:
                return await self._exchange(*self._idle.pop(), body)
            except asyncio.IncompleteReadError as err:
                if err.partial:
                    raise
            except ConnectionResetError:  # the server's close crossed our request: it read nothing of it either
                pass
        return await self._exchange(*await asyncio.open_connection(self.host, self.port), body)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes
    ) -> tuple[int, bytes]:
        try:
            writer.write(b"%s%d\r\n\r\n%s" % (self._head, len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            keep_alive = head.startswith(b"HTTP/1.1")
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    keep_alive = False
            content = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        status = int(head.split(b" ", 2)[1])
        if status != 200 or not keep_alive:
            writer.close()  # the status only matters for the count: the body is parsed all the same
        else:
            self._idle.append((reader, writer))
        return status, content

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
