"""Blocking stream reads on dedicated connections, one per (worker, bus partition), on a single Redis or a cluster.

The ingest and delivery workers wait for new entries with one blocking `XREADGROUP ... BLOCK ms STREAMS s1 ... sk`
per bus partition (router.keys: all the streams of a partition share one hash slot, so one call is legal on a
cluster). A blocked call holds its connection for up to `BLOCK` ms, so these calls never borrow a connection of the
command client (router.redis_client): each `StreamReader` owns exactly one connection, made on first use and
remade after an error. A process therefore holds at most `2 x partitions it serves` reader connections (ingest and
delivery), plus its bounded command pool, whatever the number of buses, rules and targets. SQS long polling
(router.sqs.waiters) reads queue streams the same way, with plain `XREAD` (`xread`, and `xread_each`: several
non-blocking reads pipelined on the one connection), one reader per Redis node.

On a cluster a reader connects to the master that serves its slot, found through the command client's slot map;
a `MOVED` reply (the slot moved, or a replica was promoted) reconnects it to the node the reply names, and a
connection error makes it look the slot up again (after the command client has refreshed its map with a keyed
command on the slot). Connections carry the client name `switchboard:<pid>:<role>` (CLIENT LIST shows who holds
what).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MovedError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from router.redis_client import AnyRedis, as_cluster, connection_class

__all__ = ["Entry", "StreamReader", "parse_xread"]

log = logging.getLogger("switchboard.redis")

Entry = tuple[bytes, dict[bytes, bytes] | None]
"""(entry id, fields), fields None for an entry deleted while pending."""

_MARGIN_S = 5.0
"""How much longer than BLOCK a read may take before it counts as a timeout."""


def parse_xread(reply: Any) -> list[tuple[str, list[Entry]]]:
    """[(stream, entries)] from a raw XREAD/XREADGROUP reply (RESP2 arrays or a RESP3 map)."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    out: list[tuple[str, list[Entry]]] = []
    for name, raw_entries in pairs:
        stream = name.decode() if isinstance(name, bytes) else str(name)
        entries: list[Entry] = []
        for entry_id, flat in raw_entries or ():
            if flat is None:
                entries.append((entry_id, None))
            elif isinstance(flat, dict):
                entries.append((entry_id, flat))
            elif len(flat) == 2:  # one field (an ingest entry's `event`): the common case, without a zip
                entries.append((entry_id, {flat[0]: flat[1]}))
            else:
                pairs_of = iter(flat)
                entries.append((entry_id, dict(zip(pairs_of, pairs_of, strict=True))))
        out.append((stream, entries))
    return out


def _read_args(head: list[Any], streams: Mapping[str, str | bytes], count: int, block_ms: int | None) -> list[Any]:
    args = [*head, "COUNT", count]
    if block_ms is not None:
        args += ["BLOCK", block_ms]
    args.append("STREAMS")
    args.extend(streams.keys())
    args.extend(streams.values())
    return args


class StreamReader:
    """One dedicated connection for blocking XREADGROUP calls on the streams of one hash slot.

    `slot_key` is any key of that slot (the partition's tag); `role` names the connection."""

    def __init__(self, commands: AnyRedis, slot_key: str, role: str) -> None:
        self.commands = commands
        self.slot_key = slot_key
        self.name = f"switchboard:{os.getpid()}:{role}"
        self._conn: AbstractConnection | None = None
        self._target: tuple[str, int] | None = None
        """Cluster: the node the last MOVED named (used for the next connection)."""
        self._client_id: int | None = None
        self._node: tuple[str, int] | None = None
        """Where the connection goes (host, port)."""

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.is_connected

    async def xreadgroup(
        self, group: str, consumer: str, streams: Mapping[str, str | bytes], *, count: int, block_ms: int | None
    ) -> list[tuple[str, list[Entry]]]:
        """`XREADGROUP GROUP group consumer COUNT count [BLOCK block_ms] STREAMS ...`; [] on timeout.

        Raises redis-py's errors (ResponseError such as NOGROUP, ConnectionError, TimeoutError) after dropping the
        connection when it cannot be reused; a MOVED reply is followed once, to the node it names."""
        args = _read_args(["XREADGROUP", "GROUP", group, consumer], streams, count, block_ms)
        return (await self._read([args], block_ms))[0]

    async def xread(
        self, streams: Mapping[str, str | bytes], *, count: int, block_ms: int | None
    ) -> list[tuple[str, list[Entry]]]:
        """`XREAD COUNT count [BLOCK block_ms] STREAMS ...` (no consumer group); [] on timeout. Errors as
        `xreadgroup`. On a cluster the streams must share one slot."""
        return (await self._read([_read_args(["XREAD"], streams, count, block_ms)], block_ms))[0]

    async def xread_each(
        self, reads: Sequence[Mapping[str, str | bytes]], *, count: int
    ) -> list[list[tuple[str, list[Entry]]]]:
        """One non-blocking `XREAD` per mapping, pipelined in one round trip on this connection (on a cluster each
        mapping's streams share one slot, and every slot is served by this reader's node); replies in order."""
        if not reads:
            return []
        return await self._read([_read_args(["XREAD"], streams, count, None) for streams in reads], None)

    async def _read(self, commands: list[list[Any]], block_ms: int | None) -> list[list[tuple[str, list[Entry]]]]:
        timeout_s = (block_ms or 0) / 1000 + _MARGIN_S
        for attempt in range(2):
            try:
                return [parse_xread(reply) for reply in await self._call(commands, timeout_s)]
            except MovedError as err:
                self._target = (str(err.host), int(err.port))
                await self._drop()
                if attempt:
                    raise
        return []  # pragma: no cover - the loop returns or raises

    async def _call(self, commands: Sequence[Sequence[Any]], timeout_s: float) -> list[Any]:
        conn = await self._connection()
        try:
            if len(commands) == 1:
                await conn.send_command(*commands[0])
            else:
                await conn.send_packed_command(conn.pack_commands(commands))
            return [await conn.read_response(timeout=timeout_s) for _ in commands]
        except (RedisConnectionError, RedisTimeoutError, OSError):
            await self._drop()
            raise
        except RedisError:
            if len(commands) > 1:
                await self._drop()  # the replies after the failed one are still unread
            raise
        except asyncio.CancelledError:
            await asyncio.shield(self._drop())  # a reply may still come: the connection cannot be reused
            raise

    async def _connection(self) -> AbstractConnection:
        if self._conn is not None:
            return self._conn
        kwargs, cls = await self._connection_settings()
        conn = cls(**kwargs)
        await conn.connect()  # type: ignore[no-untyped-call]
        try:
            await conn.send_command("CLIENT", "ID")
            self._client_id = int(await conn.read_response(timeout=_MARGIN_S))
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)
            raise
        self._node = (str(kwargs.get("host", "")), int(kwargs.get("port") or 0))
        self._conn = conn
        return conn

    async def interrupt(self, read: asyncio.Future[Any]) -> None:
        """End the blocked read `read` (made by this reader) early: `CLIENT UNBLOCK` from the command client.

        The read then returns [] (or what it had already received). UNBLOCK can reach Redis before the read does;
        it is repeated until the read ends, so a wake-up is never lost."""
        for _ in range(2000):
            if read.done():
                return
            client_id = self._client_id
            if client_id is not None and self._conn is not None:
                try:
                    if await self._unblock(client_id):
                        break
                except (RedisError, OSError) as err:
                    log.debug("CLIENT UNBLOCK failed: %s", err)
                    break
            await asyncio.sleep(0.001)
        with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
            await asyncio.wait_for(asyncio.shield(read), timeout=_MARGIN_S)

    async def _unblock(self, client_id: int) -> bool:
        cluster = as_cluster(self.commands)
        if cluster is not None:
            host, port = self._node or ("", 0)
            node = cluster.get_node(host=host, port=port)
            if node is None:
                return False
            result = await cluster.execute_command("CLIENT UNBLOCK", client_id, target_nodes=node)
        else:
            result = await self.commands.execute_command("CLIENT UNBLOCK", client_id)  # type: ignore[no-untyped-call]
        return bool(int(result))

    async def _connection_settings(self) -> tuple[dict[str, Any], type[AbstractConnection]]:
        cluster = as_cluster(self.commands)
        if cluster is not None:
            if self._target is not None:
                host, port = self._target
                self._target = None
            else:
                await cluster.exists(self.slot_key)  # routes (and refreshes the slot map on MOVED) like any command
                node = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(self.slot_key))
                host, port = node.host, int(node.port)
            kwargs = dict(cluster.connection_kwargs)
            cls = kwargs.pop("connection_class")
            for name in ("max_connections", "response_callbacks", "himport_registry"):
                kwargs.pop(name, None)
            kwargs.update(host=host, port=port)
        else:
            pool = self.commands.connection_pool
            kwargs = dict(pool.connection_kwargs)
            cls = pool.connection_class
        kwargs["client_name"] = self.name
        kwargs["socket_timeout"] = None  # each read passes its own deadline (BLOCK + a margin)
        return kwargs, connection_class(cls)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._client_id = None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    async def aclose(self) -> None:
        await self._drop()
