"""The router's Redis client factory: redis-py's asyncio client, with commands packed by hiredis.

redis-py's asyncio `Connection.pack_command` is pure Python (one `bytes.join` per argument), even when hiredis is
installed: only the sync client packs with `hiredis.pack_command`. The router sends many arguments per event (a
batch's settle script, queue appends, delivery jobs), and the delivery benchmark's profile showed the pure-Python
packer at about 30% of the router process. So `client(url)` builds the usual `redis.asyncio.Redis`, but its
connection pool makes connections whose `pack_command` / `pack_commands` call `hiredis.pack_command` once per
command, with redis-py's encoding semantics:

- the command name may hold several words (`"CONFIG GET"`): it is split, as redis-py does;
- `bytes`, `str` (UTF-8, strict), `int` and `float` (their `repr`) are packed by hiredis exactly as redis-py's
  `Encoder` would (tests/router/test_redis_client.py compares the bytes on many argument shapes);
- `bytearray` and `memoryview` become `bytes` first;
- anything else (`bool`, `None`, other types), or a client configured with another encoding, goes to redis-py's own
  packer, so the error (`DataError`) and every other behaviour stay redis-py's.

Everything else (connection handling, parsing replies with hiredis, pipelines, scripts) is redis-py's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)

__all__ = ["client", "pack_command"]

_UTF8 = frozenset({"utf-8", "utf8", "UTF-8", "UTF8"})


def pack_command(args: tuple[Any, ...]) -> bytes | None:
    """The RESP encoding of one command, as redis-py's encoder would make it; None when redis-py must pack it."""
    first = args[0]
    if isinstance(first, str):
        if not first.isalnum():  # redis-py splits a str command name on whitespace ("CONFIG GET")
            args = tuple(first.encode().split()) + args[1:]
    elif isinstance(first, bytes):
        if b" " in first:
            args = tuple(first.split()) + args[1:]
    else:
        return None
    converted = False
    for arg in args:
        kind = type(arg)
        if kind is bytearray or kind is memoryview:
            converted = True
        elif not (kind is bytes or kind is str or kind is int or kind is float):
            return None  # bool, None, subclasses, other types: redis-py decides (usually DataError)
    if converted:
        args = tuple(bytes(a) if isinstance(a, bytearray | memoryview) else a for a in args)
    try:
        packed: bytes = hiredis.pack_command(args)
    except (TypeError, UnicodeError):
        return None
    return packed


class _HiredisPacking:
    """Mixin for redis-py's asyncio connections: `pack_command` and `pack_commands` through hiredis."""

    def pack_command(self, *args: Any) -> list[bytes]:
        encoder = self.encoder  # type: ignore[attr-defined]
        if encoder.encoding in _UTF8 and encoder.encoding_errors == "strict" and args:
            packed = pack_command(args)
            if packed is not None:
                return [packed]
        fallback: list[bytes] = super().pack_command(*args)  # type: ignore[misc]
        return fallback

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        pieces: list[bytes] = []
        for command in commands:
            pieces.extend(self.pack_command(*command))
        return [b"".join(pieces)]


class HiredisConnection(_HiredisPacking, Connection):
    pass


class HiredisSSLConnection(_HiredisPacking, SSLConnection):
    pass


class HiredisUnixDomainSocketConnection(_HiredisPacking, UnixDomainSocketConnection):
    pass


_SUBSTITUTES: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: HiredisConnection,
    SSLConnection: HiredisSSLConnection,
    UnixDomainSocketConnection: HiredisUnixDomainSocketConnection,
}


def client(url: str, **kwargs: Any) -> aioredis.Redis:
    """`redis.asyncio.Redis.from_url(url, **kwargs)`, with hiredis command packing (any URL scheme redis-py takes)."""
    pool = ConnectionPool.from_url(url, **kwargs)
    pool.connection_class = _SUBSTITUTES.get(pool.connection_class, pool.connection_class)
    return aioredis.Redis.from_pool(pool)
