"""Coalescing a saga process's Redis commands: what many concurrent inputs ask for in one turn of the event loop
goes to Redis as one pipelined round trip.

A runtime handles hundreds of inputs at once (one task each, sagas.consumer), and each input is a few short steps:
load the instance, commit, dispatch the outbox, update the index. Sent one by one, every step costs a round trip
and redis-py's per-command path (a pool checkout, a socket write and read); the order-to-cash demo made about 34
round trips per order that way, and they were the largest part of the saga process's CPU (BENCHMARKS.md). A
`Coalescer` queues each caller's commands and, once the tasks that are ready have all had their turn, sends
everything queued in one non-transactional pipeline (on a Redis Cluster, redis-py sends it as one pipeline per
node); each caller gets its own commands' results. So 64 messages read together load their 64 instances in one
round trip, commit in one, and so on.

Nothing about atomicity changes: every command (a script, a single-key command) is atomic on its own, as it was
when sent alone, and one caller's commands run in the order it gave them. A pipeline is not a transaction: a
caller that needs one step to happen only after another succeeded (the outbox is removed only after its messages
are out) makes two calls. An error in one caller's command is that caller's alone (raised to it); a pipeline that
fails as a whole (the connection) fails every caller in it, which each handles as it handled a failed command.

A script is queued as `EVALSHA`; a node that does not have it (a restart, a failover) answers NOSCRIPT for that
command, which is then run alone through redis-py's `Script` (loading it), so a caller never sees NOSCRIPT.
At most `max_pipelines` pipelines are in flight at once: while they are out, new commands queue, so the busier the
process, the fuller each round trip.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from router.redis_client import AnyRedis

__all__ = ["Coalescer", "ScriptCall"]


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """A registered script with its keys and arguments, to queue like a command."""

    script: AsyncScript
    keys: Sequence[Any]
    args: Sequence[Any] = ()


Command = tuple[Any, ...] | ScriptCall
"""A command (`("HGET", key, field)`, run with redis-py's response callbacks) or a script call."""


@dataclass(slots=True)
class _Call:
    commands: Sequence[Command]
    future: asyncio.Future[list[Any]]
    results: list[Any] = field(default_factory=list)


class Coalescer:
    def __init__(self, redis: AnyRedis, *, max_pipelines: int = 4, max_commands: int = 2_000) -> None:
        self.redis = redis
        self.max_pipelines = max(1, max_pipelines)
        self.max_commands = max_commands
        """Commands per pipeline at most (a bigger queue is sent as several)."""
        self._queue: collections.deque[_Call] = collections.deque()
        self._pump_scheduled = False
        self._running: set[asyncio.Task[None]] = set()
        self.round_trips = 0
        """Pipelines sent (for tests and benchmarks)."""
        self.commands = 0

    async def run(self, commands: Sequence[Command]) -> list[Any]:
        """Run `commands` (in order, in one round trip shared with other callers); their results, in order. The
        first command that failed raises its error (the commands before it did run)."""
        if not commands:
            return []
        loop = asyncio.get_running_loop()
        call = _Call(commands, loop.create_future())
        self._queue.append(call)
        if not self._pump_scheduled:
            self._pump_scheduled = True
            loop.call_soon(self._pump)
        results = await call.future
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    def _pump(self) -> None:
        self._pump_scheduled = False
        while self._queue and len(self._running) < self.max_pipelines:
            calls: list[_Call] = []
            size = 0
            while self._queue and (not calls or size + len(self._queue[0].commands) <= self.max_commands):
                call = self._queue.popleft()
                if call.future.done():  # its caller was cancelled before it was sent
                    continue
                calls.append(call)
                size += len(call.commands)
            if not calls:
                return
            task = asyncio.create_task(self._send(calls))
            self._running.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._pump()

    async def _send(self, calls: list[_Call]) -> None:
        try:
            flat = await self._execute([c for call in calls for c in call.commands])
        except BaseException as err:
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(err)
            if isinstance(err, asyncio.CancelledError):
                raise
            return
        offset = 0
        for call in calls:
            n = len(call.commands)
            if not call.future.done():
                call.future.set_result(flat[offset : offset + n])
            offset += n

    async def _execute(self, commands: list[Command]) -> list[Any]:
        self.round_trips += 1
        self.commands += len(commands)
        async with self.redis.pipeline(transaction=False) as pipe:
            for command in commands:
                if isinstance(command, ScriptCall):
                    keys = list(command.keys)
                    pipe.execute_command("EVALSHA", command.script.sha, len(keys), *keys, *command.args)
                else:
                    pipe.execute_command(*command)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        for index, result in enumerate(results):
            command = commands[index]
            if isinstance(result, NoScriptError) and isinstance(command, ScriptCall):
                try:
                    results[index] = await command.script(keys=list(command.keys), args=list(command.args))
                except Exception as err:
                    results[index] = err
        return results

    async def aclose(self) -> None:
        """Wait for what is queued and in flight."""
        while self._queue or self._running:
            self._pump()
            if self._running:
                await asyncio.gather(*list(self._running), return_exceptions=True)
