"""router.redis_client: hiredis packing gives the bytes redis-py's pure-Python packer gives, on every shape."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from router.redis_client import (
    HiredisConnection,
    HiredisSSLConnection,
    HiredisUnixDomainSocketConnection,
    client,
    pack_command,
)

SHAPES: list[tuple[Any, ...]] = [
    ("PING",),
    ("GET", "k"),
    (b"GET", b"k"),
    ("SET", "k", "v", "EX", 10),
    ("CONFIG GET", "maxmemory"),
    (b"CONFIG GET", b"maxmemory"),
    ("CONFIG\tGET", "x"),
    ("client  setname", "x"),
    ("XADD", "sb:{queue:q}:messages", "*", "body", b'{"a":1}', "sent_ms", 1700000000000),
    ("ZADD", "z", 1.5, "m", 0.1, "n", 1e20, "o", 1e-7, "p", -0.0, "q"),
    ("ZADD", "z", float("inf"), "a", float("-inf"), "b"),
    ("INCRBY", "k", -5),
    ("SET", "big", 2**70),
    ("SET", "k", 0),
    ("SET", "é", "ünïcödé ✓"),
    ("SET", "k", ""),
    ("SET", "k", b""),
    ("SET", "k", bytearray(b"ab\x00c")),
    ("SET", "k", memoryview(b"view")),
    ("SET", "k", b"\x00\xff\r\n"),
    ("SET", "k", "x" * 10_000),
    ("SET", "k", b"y" * 100_000),
    ("EVALSHA", "a" * 40, 2, "k1", "k2", *range(200)),
    ("xadd", "s", "*", *[f"f{i}" for i in range(50)]),
]


def _python(args: tuple[Any, ...], cls: type = Connection) -> bytes:
    conn = cls()
    return b"".join(bytes(chunk) for chunk in conn.pack_command(*args))


def _hiredis(args: tuple[Any, ...], cls: type = HiredisConnection) -> bytes:
    conn = cls()
    chunks = conn.pack_command(*args)
    return b"".join(bytes(chunk) for chunk in chunks)


@pytest.mark.parametrize("args", SHAPES, ids=[str(i) for i in range(len(SHAPES))])
def test_hiredis_packing_equals_redis_py(args: tuple[Any, ...]) -> None:
    assert pack_command(args) is not None  # the fast path took it
    assert _hiredis(args) == _python(args)


@pytest.mark.parametrize(
    ("fast", "slow"),
    [
        (HiredisSSLConnection, SSLConnection),
        (HiredisUnixDomainSocketConnection, UnixDomainSocketConnection),
    ],
)
def test_every_connection_kind_packs_the_same(fast: type, slow: type) -> None:
    for args in SHAPES:
        assert _hiredis(args, fast) == _python(args, slow)


def test_pipelines_pack_the_same_bytes() -> None:
    fast, slow = HiredisConnection(), Connection()
    packed = b"".join(fast.pack_commands(SHAPES))
    expected = b"".join(bytes(chunk) for chunk in slow.pack_commands(SHAPES))
    assert packed == expected


@pytest.mark.parametrize("bad", [True, None, [1], {"a": 1}, object()])
def test_unsupported_values_fail_as_in_redis_py(bad: Any) -> None:
    assert pack_command(("SET", "k", bad)) is None
    with pytest.raises(DataError) as fast_error:
        HiredisConnection().pack_command("SET", "k", bad)
    with pytest.raises(DataError) as slow_error:
        Connection().pack_command("SET", "k", bad)
    assert str(fast_error.value) == str(slow_error.value)


def test_invalid_unicode_fails_as_in_redis_py() -> None:
    with pytest.raises(UnicodeEncodeError):
        HiredisConnection().pack_command("SET", "k", "a\udc80")
    with pytest.raises(UnicodeEncodeError):
        Connection().pack_command("SET", "k", "a\udc80")


def test_other_encodings_use_redis_py_packer() -> None:
    fast = HiredisConnection(encoding="latin-1")
    slow = Connection(encoding="latin-1")
    assert b"".join(fast.pack_command("SET", "k", "é")) == b"".join(slow.pack_command("SET", "k", "é"))
    assert b"\xe9" in b"".join(fast.pack_command("SET", "k", "é"))


def test_client_uses_the_hiredis_connection_for_each_scheme() -> None:
    assert client("redis://127.0.0.1:1/0").connection_pool.connection_class is HiredisConnection
    assert client("rediss://127.0.0.1:1/0").connection_pool.connection_class is HiredisSSLConnection
    assert client("unix:///tmp/x.sock").connection_pool.connection_class is HiredisUnixDomainSocketConnection


@pytest.mark.integration
async def test_round_trips_through_a_real_redis(redis_url: str) -> None:
    redis = client(redis_url)
    try:
        await redis.set("k", "ünï ✓")
        assert await redis.get("k") == "ünï ✓".encode()
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set("a", memoryview(b"mv"))
            pipe.set("b", 1.5)
            pipe.incrby("c", 7)
            pipe.xadd("s", {"f": b"\x00\xff"})
            await pipe.execute()
        assert await redis.mget("a", "b", "c") == [b"mv", b"1.5", b"7"]
        script = redis.register_script("return redis.call('GET', KEYS[1]) .. ARGV[1]")
        assert await script(keys=["a"], args=[2]) == b"mv2"
        entries: Any = await redis.xrange("s")
        assert entries[0][1] == {b"f": b"\x00\xff"}
        assert await redis.config_get("maxmemory")
    finally:
        await redis.aclose()
