"""Coalescing of concurrent calls of one Lua script into one pipelined round trip per event-loop tick.

PutEvents appends each request's envelopes with one script call (router.backlog's append script). Under load a
router process has tens of requests in flight, and each call cost its own write and read system calls and redis-py's
per-command overhead: about a fifth of the router's CPU per event in the scale bench's profile. `ScriptBatcher.run`
queues a call and, once per loop tick, sends every call queued in that tick in one pipeline (not a transaction:
each call is its own script run, atomic on its own, as before) through `router.redis_client.run_script_many`.

Each caller gets its own call's result or error, never another's: a script that fails (a Redis error reply) fails
only the call that made it; an error of the round trip itself (Redis unreachable, the connection lost mid-way) fails
every call of that batch, since none of them can be known to have run. Callers treat both as before (PutEvents: the
entries are `InternalFailure`, retryable; an acknowledged append is never reported failed by another's error).

On a Redis Cluster the calls are made one by one (`script(keys=..., args=...)`), as without the batcher: a
cluster pipeline's error handling spans nodes, and the single-Redis deployment is the one this saves CPU for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from router.redis_client import AnyRedis, as_cluster, run_script_many

__all__ = ["ScriptBatcher"]

MAX_BATCH = 64
"""Calls per pipeline at most; a tick with more sends several pipelines concurrently."""

_Call = tuple[Sequence[Any], Sequence[Any], "asyncio.Future[Any]"]


class ScriptBatcher:
    """Runs the calls of one registered script (`redis.register_script(...)`) made in one tick as one pipeline."""

    def __init__(self, redis: AnyRedis, script: Any, *, max_batch: int = MAX_BATCH) -> None:
        self.redis = redis
        self.script = script
        self.max_batch = max_batch
        self._alone = as_cluster(redis) is not None
        self._pending: list[_Call] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self.batches = 0
        """Pipelines sent so far (for tests and benchmarks)."""

    async def run(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """The script's result for (keys, args), or its error raised."""
        if self._alone:
            return await self.script(keys=list(keys), args=list(args))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((keys, args, future))
        if len(self._pending) == 1:  # the first call of this tick: the flush runs once the tick's callers queued theirs
            task = asyncio.create_task(self._flush())
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        return await future

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        chunks = [pending[i : i + self.max_batch] for i in range(0, len(pending), self.max_batch)]
        if len(chunks) == 1:
            await self._send(chunks[0])
        else:
            await asyncio.gather(*(self._send(chunk) for chunk in chunks))

    async def _send(self, calls: list[_Call]) -> None:
        self.batches += 1
        try:
            results = await run_script_many(self.redis, self.script, [(keys, args) for keys, args, _ in calls])
        except BaseException as err:  # the round trip failed: none of these calls is known to have run
            for _, _, future in calls:
                if not future.done():
                    future.set_exception(err if isinstance(err, Exception) else ConnectionError(repr(err)))
            if not isinstance(err, Exception):
                raise
            return
        for (_, _, future), result in zip(calls, results, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
