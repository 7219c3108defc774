"""router.redis_client: hiredis packing gives the bytes redis-py's pure-Python packer gives, on every shape; the
command client detects a cluster, packs with hiredis on both kinds, and makes callers wait for a connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from router.redis_client import (
    BoundedCluster,
    HiredisConnection,
    HiredisSSLConnection,
    HiredisUnixDomainSocketConnection,
    as_cluster,
    client,
    connect,
    connections_at_most,
    count_masters,
    is_cluster,
    pack_command,
    split_cluster_flag,
)
from tests.waiting import eventually

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
async def test_round_trips_through_a_real_redis_or_cluster(redis_url: str, redis_kind: str) -> None:
    redis = connect(redis_url)
    try:
        assert (as_cluster(redis) is not None) == (redis_kind == "cluster")  # detected, no flag
        await redis.set("k", "ünï ✓")
        assert await redis.get("k") == "ünï ✓".encode()
        async with redis.pipeline(transaction=True) as pipe:  # one slot: a MULTI on the cluster too
            pipe.set("{t}a", memoryview(b"mv"))
            pipe.set("{t}b", 1.5)
            pipe.incrby("{t}c", 7)
            pipe.xadd("{t}s", {"f": b"\x00\xff"})
            await pipe.execute()
        assert await redis.mget("{t}a", "{t}b", "{t}c") == [b"mv", b"1.5", b"7"]
        script = redis.register_script("return redis.call('GET', KEYS[1]) .. ARGV[1]")
        assert await script(keys=["{t}a"], args=[2]) == b"mv2"
        entries: Any = await redis.xrange("{t}s")
        assert entries[0][1] == {b"f": b"\x00\xff"}
        cluster = as_cluster(redis)
        classes: set[type[Any]]
        if cluster is not None:
            classes = {type(c) for node in cluster.get_nodes() for c in node._connections}
        else:
            classes = {redis.connection_pool.connection_class}
        assert classes == {HiredisConnection}
    finally:
        await redis.aclose()


@pytest.mark.integration
async def test_callers_wait_for_a_connection_instead_of_failing(redis_url: str, redis_kind: str) -> None:
    """200 concurrent calls (some holding a connection 50 ms) on a pool of 3: all succeed, at most 3 connections
    per node are ever open (redis-py's default pool fails with "Too many connections" instead)."""
    redis = connect(redis_url, max_connections=3, client_name="bounded-test")
    try:
        results = await asyncio.gather(
            *(redis.blpop([f"{{q}}{n}"], timeout=0.05) if n % 20 == 0 else redis.incr("{q}n") for n in range(200))
        )
        assert sorted(r for r in results if isinstance(r, int))[-1] == 190
        listing = await _client_list(redis)
        per_node = [sum(1 for c in clients if c["name"] == "bounded-test") for clients in listing]
        assert max(per_node) <= (3 if redis_kind == "single" else 6)
        assert 1 <= sum(per_node) <= connections_at_most(3, count_masters(redis_url))
    finally:
        await redis.aclose()


@pytest.mark.integration
async def test_the_masters_are_counted_from_the_topology(redis_url: str, redis_kind: str) -> None:
    """`count_masters` (what start-up sizes the descriptor reserve by) and the cluster client's `masters_seen` agree
    with the servers: None and one pool on a single Redis, 3 masters and 3 node pools on the fixture's cluster."""
    masters = count_masters(redis_url)
    redis = connect(redis_url, max_connections=4)
    try:
        await redis.set("{m}k", 1)
        cluster = as_cluster(redis)
        if redis_kind == "single":
            assert (masters, cluster, connections_at_most(4, masters)) == (None, None, 4)
        else:
            assert isinstance(cluster, BoundedCluster)
            assert (masters, cluster.masters_seen(), connections_at_most(4, masters)) == (3, 3, 3 * 2 * 4)
    finally:
        await redis.aclose()


@pytest.mark.integration
async def test_a_caller_waits_a_bounded_time_when_every_connection_is_held(redis_url: str, redis_client: Any) -> None:
    """With its one connection held by a 2 s BLPOP, another call fails with ConnectionError after the wait timeout
    (0.3 s) instead of waiting forever; once the BLPOP ends the client works again."""
    import redis.exceptions

    redis_ = connect(redis_url, max_connections=1, wait_timeout_s=0.3)
    try:

        async def hold() -> Any:
            return await redis_.blpop(["{q}never"], timeout=2)

        holder = asyncio.create_task(hold())
        await eventually(lambda: _blocked(redis_client), what="the BLPOP holding the connection")
        started = asyncio.get_running_loop().time()
        with pytest.raises(redis.exceptions.ConnectionError):
            await redis_.incr("{q}n")
        assert 0.25 <= asyncio.get_running_loop().time() - started < 1.5
        assert await holder is None
        assert await redis_.incr("{q}n") == 1
    finally:
        await redis_.aclose()


async def _blocked(redis: Any) -> bool:
    """Whether some client of `redis_url`'s server (any node) is in a BLPOP."""
    import redis.asyncio as aioredis

    cluster = as_cluster(redis)
    if cluster is None:
        return any(c["cmd"] == "blpop" for c in await redis.client_list())
    await cluster.initialize()  # a cluster client knows its nodes once initialized
    for primary in cluster.get_primaries():
        async with aioredis.Redis(host=primary.host, port=int(primary.port)) as node:
            if any(c["cmd"] == "blpop" for c in await node.client_list()):
                return True
    return False


async def _client_list(redis: Any) -> list[list[dict[str, Any]]]:
    cluster = as_cluster(redis)
    if cluster is None:
        return [await redis.client_list()]
    replies: Any = await cluster.client_list(target_nodes=cluster.get_primaries())
    return list(replies.values())


def test_the_cluster_flag_in_the_url_is_taken_out_and_wins() -> None:
    assert split_cluster_flag("redis://h:1/0?cluster=yes&socket_timeout=2") == ("redis://h:1/0?socket_timeout=2", True)
    assert split_cluster_flag("redis://h:1/0?cluster=no") == ("redis://h:1/0", False)
    assert split_cluster_flag("redis://h:1/0") == ("redis://h:1/0", None)
    assert is_cluster("redis://127.0.0.1:1/0?cluster=no") is False  # no server is asked


@pytest.mark.integration
async def test_commands_are_written_without_a_task_per_write(redis_url: str) -> None:
    """redis-py's own send wraps each write in `asyncio.wait_for`, a new Task on Python 3.11; ours writes in the
    caller's task (the loop's task factory sees no write task for 50 commands and a 10-command pipeline; redis-py
    itself starts other tasks, e.g. to release a pool's connection)."""
    found = connect(redis_url, socket_timeout=5)
    created: list[Any] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()

    def counting(loop: Any, coro: Any, **kwargs: Any) -> Any:
        if "_send_packed_command" in getattr(coro, "__qualname__", ""):
            created.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    try:
        await found.set("{w}:warm", 0)  # connections opened (and, on a cluster, the slots read) before counting
        loop.set_task_factory(counting)
        for n in range(50):
            await found.set("{w}:k", n)
        async with found.pipeline(transaction=False) as pipe:
            for _ in range(10):
                pipe.incr("{w}:n")
            assert (await pipe.execute())[-1] == 10
        assert created == []
        assert await found.get("{w}:k") == b"49"
    finally:
        loop.set_task_factory(previous)
        await found.aclose()


@pytest.mark.integration
async def test_a_write_redis_does_not_take_times_out_as_in_redis_py(tmp_path: Any) -> None:
    """A Redis that stops reading (SIGSTOP) while a command larger than the socket buffers is written: the write's
    drain waits, and fails after `socket_timeout` with redis-py's TimeoutError; the connection is dropped."""
    import signal

    import redis.exceptions

    from tests.conftest import RedisServer

    data = tmp_path / "redis"
    data.mkdir()
    server = RedisServer(data)
    found = connect(server.url, cluster=False, socket_timeout=1)
    try:
        await found.ping()
        server.proc.send_signal(signal.SIGSTOP)
        started = asyncio.get_running_loop().time()
        with pytest.raises(redis.exceptions.TimeoutError, match="Timeout"):
            await found.set("big", b"x" * 64_000_000)
        assert asyncio.get_running_loop().time() - started < 30
    finally:
        server.proc.send_signal(signal.SIGCONT)
        await found.aclose()
        server.stop()
