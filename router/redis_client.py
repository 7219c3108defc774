"""The router's Redis clients: one bounded command client per process, on a single Redis or a Redis Cluster.

**Cluster or not.** `connect(url)` asks the server at `url` (`INFO cluster`, field `cluster_enabled`) and builds
redis-py's asyncio `RedisCluster` when it is a cluster node, its `Redis` otherwise; so a REDIS_URL that names any node
of a cluster (`redis://10.0.0.5:7000/0`) is all a deployment sets. `is_cluster(url)` is the same check, synchronous,
for the CLI. A URL may also say it: `?cluster=yes` (or `no`) skips the check. Nothing else in the router cares
which one it got: every multi-key script and transaction is single-slot by construction (router.keys).

**Bounded connections.** The command client holds at most `max_connections` connections (per node, on a cluster)
and a caller that finds them all busy *waits* for one (up to `wait_timeout_s`, then a ConnectionError) instead of
failing: redis-py's `BlockingConnectionPool` on a single Redis; on a cluster, whose node pools cannot wait, a
semaphore of `max_connections` permits taken by every command and held by a pipeline from its first WATCH or its
execute until its reset (a command run while the caller already holds a permit, such as a pipeline's redirection
retries, does not take a second one). Blocking reads never use this client: the workers read through dedicated
connections (router.stream_reader), so a blocked read can never starve a request of a connection.

**Connections at most, for the descriptor budget.** `connections_at_most(max_connections, masters)` is how many
connections this client may hold open: `max_connections` on a single Redis; on a cluster each master's node pool up
to `NODE_POOL_FACTOR` x `max_connections` (see `BoundedCluster`), so `masters` times that. `count_masters(url)`
asks the server how many masters serve slots (None on a single Redis); router.startup sizes the file-descriptor reserve
from the two at start-up, so the reserve follows the real topology instead of assuming a cluster's size.

**hiredis packing.** redis-py's asyncio `Connection.pack_command` is pure Python (one `bytes.join` per argument),
even when hiredis is installed: only the sync client packs with `hiredis.pack_command`. The router sends many
arguments per event (a batch's settle script, queue appends, delivery jobs), and the delivery benchmark's profile
showed the pure-Python packer at about 30% of the router process. So every connection made here (single Redis and
cluster nodes alike) packs with `hiredis.pack_command`, once per command, with redis-py's encoding semantics:

- the command name may hold several words (`"CONFIG GET"`): it is split, as redis-py does;
- `bytes`, `str` (UTF-8, strict), `int` and `float` (their `repr`) are packed by hiredis exactly as redis-py's
  `Encoder` would (tests/router/test_redis_client.py compares the bytes on many argument shapes);
- `bytearray` and `memoryview` become `bytes` first;
- anything else (`bool`, `None`, other types), or a client configured with another encoding, goes to redis-py's own
  packer, so the error (`DataError`) and every other behaviour stay redis-py's.

**Sends without a task.** redis-py's asyncio `send_packed_command` bounds each write by `socket_timeout` with
`asyncio.wait_for`, which on Python 3.11 wraps the write in a new Task (created, scheduled, run a loop iteration
later): about a tenth of the router's CPU per event in the scale bench's profile went to those tasks. The
connections here write at once and bound only a drain that has to wait (the kernel's buffer full) with
`asyncio.timeout`; the errors are redis-py's (`TimeoutError("Timeout writing to socket")`, `ConnectionError`).

Everything else (connection handling, parsing replies with hiredis, pipelines, scripts, cluster routing) is
redis-py's.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Iterable, Sequence
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import hiredis
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import (
    AbstractConnection,
    BlockingConnectionPool,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import NoScriptError, ResponseError

__all__ = [
    "AnyRedis",
    "BoundedCluster",
    "as_cluster",
    "client",
    "connect",
    "connection_class",
    "connections_at_most",
    "count_masters",
    "is_cluster",
    "pack_command",
    "run_script_many",
    "split_cluster_flag",
]

AnyRedis = aioredis.Redis
"""What the router's code receives as its Redis client: typed as redis-py's `Redis`, it is a `BoundedCluster` at run
time on a cluster (the router uses only commands both have; `as_cluster` tells them apart)."""

DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_WAIT_TIMEOUT_S = 10.0

NODE_POOL_FACTOR = 2
"""A cluster node's pool holds up to this many times `max_connections` (BoundedCluster: room for pipelines that use
one connection per node at once, and redis-py's redirection retries)."""

_UTF8 = frozenset({"utf-8", "utf8", "UTF-8", "UTF8"})
_PACKABLE: frozenset[type] = frozenset({bytes, str, int, float})
"""The argument types hiredis packs as redis-py's encoder does (exactly these types: not bool, not subclasses)."""
_PACKABLE_AS_BYTES: frozenset[type] = _PACKABLE | {bytearray, memoryview}
"""... and those packed once copied to bytes."""


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
    kinds = set(map(type, args))  # one pass in C: a pipeline's script calls carry thousands of arguments
    if not kinds <= _PACKABLE:
        if not kinds <= _PACKABLE_AS_BYTES:
            return None  # bool, None, subclasses, other types: redis-py decides (usually DataError)
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

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """redis-py's `send_packed_command`, writing in the caller's task (no `wait_for` task per write)."""
        connection: Any = self
        if not connection.is_connected:
            await connection.connect_check_health(check_health=False)
        if check_health:
            await connection.check_health()
        try:
            if isinstance(command, str):
                command = command.encode()
            if isinstance(command, bytes):
                command = [command]
            writer = connection._writer
            writer.writelines(command)
            if connection.socket_timeout and writer.transport.get_write_buffer_size():  # drain may have to wait
                async with asyncio.timeout(connection.socket_timeout):
                    await writer.drain()
            else:
                await writer.drain()  # returns at once; raises the error of a lost connection
        except TimeoutError:
            await connection.disconnect(nowait=True)
            raise redis.TimeoutError("Timeout writing to socket") from None
        except OSError as e:
            await connection.disconnect(nowait=True)
            err_no, errmsg = ("UNKNOWN", e.args[0]) if len(e.args) == 1 else (e.args[0], e.args[1])
            raise redis.ConnectionError(f"Error {err_no} while writing to socket. {errmsg}.") from e
        except BaseException:  # as redis-py: a write cut short leaves the connection unusable
            await connection.disconnect(nowait=True)
            raise


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


def connection_class(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    """The hiredis-packing variant of a redis-py connection class (itself for anything else)."""
    return _SUBSTITUTES.get(cls, cls)


def split_cluster_flag(url: str) -> tuple[str, bool | None]:
    """The URL without its `cluster=` query parameter, and that parameter (None when absent)."""
    parsed = urlparse(url)
    query = parse_qsl(parsed.query, keep_blank_values=True)
    flag: bool | None = None
    kept = []
    for name, value in query:
        if name == "cluster":
            flag = value.lower() in ("1", "yes", "true", "on")
        else:
            kept.append((name, value))
    return urlunparse(parsed._replace(query=urlencode(kept))), flag


def is_cluster(url: str, *, timeout_s: float = 5.0) -> bool:
    """Whether the Redis at `url` is a cluster node (`INFO cluster`), or what the URL's `cluster=` says."""
    plain, flag = split_cluster_flag(url)
    if flag is not None:
        return flag
    probe = redis.Redis.from_url(plain, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        info = probe.info("cluster")
    finally:
        probe.close()
    return bool(int(info.get("cluster_enabled", 0)))


def count_masters(url: str, *, timeout_s: float = 5.0) -> int | None:
    """How many masters serve slots in the cluster at `url` (`CLUSTER SLOTS`), or None when `url` is a single Redis
    (see `is_cluster`)."""
    if not is_cluster(url, timeout_s=timeout_s):
        return None
    plain, _ = split_cluster_flag(url)
    probe = redis.Redis.from_url(plain, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        ranges: Any = probe.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
    finally:
        probe.close()
    return max(1, len({tuple(entry[2][:2]) for entry in ranges}))


def connections_at_most(max_connections: int, masters: int | None = None) -> int:
    """The connections a command client made by `connect` may hold: on a single Redis (`masters` None) its pool's
    `max_connections`; on a cluster of `masters` masters, each node pool's `NODE_POOL_FACTOR * max_connections`."""
    if masters is None:
        return max_connections
    return masters * NODE_POOL_FACTOR * max_connections


def client(url: str, **kwargs: Any) -> aioredis.Redis:
    """`redis.asyncio.Redis.from_url(url, **kwargs)`, with hiredis command packing (any URL scheme redis-py takes)."""
    pool = ConnectionPool.from_url(url, **kwargs)
    pool.connection_class = connection_class(pool.connection_class)
    return aioredis.Redis.from_pool(pool)


def connect(
    url: str,
    *,
    cluster: bool | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    wait_timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
    **kwargs: Any,
) -> AnyRedis:
    """The bounded command client for `url` (see the module doc); `cluster` None means: ask the server."""
    plain, flag = split_cluster_flag(url)
    if cluster is None:
        cluster = flag if flag is not None else is_cluster(plain)
    if cluster:
        found: Any = BoundedCluster.from_url(
            plain, max_in_flight=max_connections, wait_timeout_s=wait_timeout_s, **kwargs
        )
        return cast(AnyRedis, found)
    pool: Any = BlockingConnectionPool.from_url(
        plain, max_connections=max_connections, timeout=wait_timeout_s, **kwargs
    )
    pool.connection_class = connection_class(pool.connection_class)
    return aioredis.Redis.from_pool(pool)


async def run_script_many(
    redis: AnyRedis, script: Any, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]
) -> list[Any]:
    """Run a registered `script` once per (keys, args) in one pipelined round trip (one per node on a cluster:
    the pipeline is not a transaction). Results in order, an error in place of its call's result; a node that does
    not have the script yet gets it loaded, and those calls are run again one by one."""
    if not calls:
        return []
    commands = [("EVALSHA", script.sha, len(keys), *keys, *args) for keys, args in calls]
    results: list[Any]
    if as_cluster(redis) is None:
        results = await _pipelined(redis, commands)
    else:
        async with redis.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            results = await pipe.execute(raise_on_error=False)
    for index, result in enumerate(results):
        if isinstance(result, NoScriptError):
            keys, args = calls[index]
            try:
                results[index] = await script(keys=list(keys), args=list(args))
            except ResponseError as err:  # its own error, in its place, as the pipeline's
                results[index] = err
    return results


async def _pipelined(redis: AnyRedis, commands: list[tuple[Any, ...]]) -> list[Any]:
    """`commands` in one round trip on one connection of a single Redis's pool: what redis-py's non-transaction
    pipeline does for commands without response callbacks (the same packing, the same retries of the whole round
    trip on a connection or timeout error, each error reply in its command's place), without its per-command stack
    and per-execute bookkeeping."""
    pool: Any = redis.connection_pool
    connection: Any = await pool.get_connection()

    async def attempt() -> list[Any]:
        await connection.send_packed_command(connection.pack_commands(commands))
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await connection.read_response())
            except ResponseError as err:
                replies.append(err)
        return replies

    async def failed(error: Exception) -> None:
        await connection.disconnect()

    try:
        results: list[Any] = await connection.retry.call_with_retry(attempt, failed)
    finally:
        await pool.release(connection)
    return results


def as_cluster(client: object) -> RedisCluster | None:
    """The client as a RedisCluster when it is one (see `AnyRedis`), else None."""
    return client if isinstance(client, RedisCluster) else None


_HOLDS_PERMIT: contextvars.ContextVar[bool] = contextvars.ContextVar("switchboard_redis_permit", default=False)


class BoundedCluster(RedisCluster):
    """redis-py's asyncio RedisCluster with hiredis packing and at most `max_in_flight` commands in flight.

    Each node's pool may open up to `NODE_POOL_FACTOR` (2) times that many connections (a holder of one permit can
    use one connection per node at once, plus redis-py's redirection retries), so a node pool never runs out: callers
    wait on the permits. So the client holds at most `connections_at_most(max_in_flight, masters)` connections, for
    the number of masters it sees (`masters_seen`)."""

    def __init__(
        self,
        *args: Any,
        max_in_flight: int = DEFAULT_MAX_CONNECTIONS,
        wait_timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
        **kwargs: Any,
    ) -> None:
        kwargs["max_connections"] = NODE_POOL_FACTOR * max_in_flight
        super().__init__(*args, **kwargs)
        self.max_in_flight = max_in_flight
        self.wait_timeout_s = wait_timeout_s
        self._permits = asyncio.Semaphore(max_in_flight)
        kwargs_dict: dict[str, Any] = self.connection_kwargs  # shared with the nodes manager (nodes found later)
        kwargs_dict["connection_class"] = connection_class(kwargs_dict["connection_class"])
        for node in self.startup_nodes:
            node.connection_class = connection_class(node.connection_class)  # type: ignore[assignment]

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> BoundedCluster:
        found = super().from_url(url, **kwargs)
        assert isinstance(found, BoundedCluster)
        return found

    def masters_seen(self) -> int:
        """How many masters the client's slot map knows now (0 before its first command)."""
        return len(self.get_primaries())

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if _HOLDS_PERMIT.get():
            return await super().execute_command(*args, **kwargs)
        await self.take_permit()
        token = _HOLDS_PERMIT.set(True)
        try:
            return await super().execute_command(*args, **kwargs)
        finally:
            _HOLDS_PERMIT.reset(token)
            self._permits.release()

    async def take_permit(self) -> None:
        """Wait for a free permit, up to `wait_timeout_s` (then redis's ConnectionError, as the single-node pool's
        wait does), so a caller never waits forever for connections that others hold."""
        try:  # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation of the caller
            async with asyncio.timeout(self.wait_timeout_s):
                await self._permits.acquire()
        except TimeoutError:
            raise redis.ConnectionError(
                f"no free Redis connection within {self.wait_timeout_s:g} s ({self.max_in_flight} in use)"
            ) from None

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            raise redis.RedisClusterException("shard_hint is deprecated in cluster mode")
        return _BoundedPipeline(self, transaction)  # type: ignore[abstract]


class _BoundedPipeline(ClusterPipeline):
    """A cluster pipeline that holds one of its client's permits from its first WATCH or execute to its reset."""

    def __init__(self, client: BoundedCluster, transaction: bool | None) -> None:
        super().__init__(client, transaction)
        self._bounded = client
        self._holding = False

    async def _take(self) -> None:
        if not self._holding and not _HOLDS_PERMIT.get():
            await self._bounded.take_permit()
            self._holding = True

    async def watch(self, *names: Any) -> None:  # type: ignore[override]
        await self._take()
        await super().watch(*names)  # type: ignore[no-untyped-call]

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        await self._take()
        token = _HOLDS_PERMIT.set(True)
        try:
            return await super().execute(raise_on_error, allow_redirections)
        finally:
            _HOLDS_PERMIT.reset(token)
            await self.reset()

    async def reset(self) -> None:  # type: ignore[override]
        try:
            await super().reset()  # type: ignore[no-untyped-call]
        finally:
            if self._holding:
                self._holding = False
                self._bounded._permits.release()
