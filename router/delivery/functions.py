"""Function targets: `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` is POSTed to the URL mapped to NAME.

There is no Lambda here, so each function a rule may target is mapped to an HTTP URL, in the Redis hash
`sb:{meta}:functions` (NAME -> URL), filled from the config's `functions:` section or set directly (tests,
`HSET`). PutTargets refuses a function target whose NAME has no mapping (ValidationException), so a typo shows at
once; a mapping removed later makes its deliveries fail with NO_RESOURCE (not retried, to the DLQ). The mapping is
read from Redis at most once a second per process. The body is the target's input, `Content-Type:
application/json`, as Lambda's asynchronous invocation receives it; the request carries the delivery id and hop
count headers of router.delivery.http.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx
import redis.asyncio as aioredis

from router.delivery.http import DELIVERY_ID_HEADER, HOPS_HEADER, send
from router.delivery.jobs import Job
from router.delivery.retry import Failure
from router.keys import Keys

__all__ = ["FunctionTransport", "function_name", "missing_function_message"]

REFRESH_S = 1.0


def function_name(arn: str) -> str | None:
    """NAME of `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`; None for any other ARN."""
    parts = arn.split(":")
    if len(parts) not in (7, 8) or parts[:3] != ["arn", "aws", "lambda"] or parts[5] != "function" or not parts[6]:
        return None
    return parts[6]


def missing_function_message(target_id: str, name: str) -> str:
    return (
        f"Target {target_id}: function {name} has no URL in this router. Map it in the config's functions: section "
        f"(or HSET sb:{{meta}}:functions {name} URL) before adding it as a target."
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class FunctionTransport:
    batched = False

    def __init__(self, redis: aioredis.Redis, keys: Keys, client: httpx.AsyncClient) -> None:
        self.redis = redis
        self.keys = keys
        self.client = client
        self._urls: dict[str, str] = {}
        self._read_at = -REFRESH_S

    async def url(self, name: str) -> str | None:
        now = time.monotonic()
        if now - self._read_at >= REFRESH_S:
            raw = await self.redis.hgetall(self.keys.functions)
            self._urls = {_text(k): _text(v) for k, v in raw.items()}
            self._read_at = now
        return self._urls.get(name)

    async def deliver(self, jobs: Sequence[Job]) -> list[Failure | None]:
        return [await self._deliver_one(job) for job in jobs]

    async def _deliver_one(self, job: Job) -> Failure | None:
        arn = str(job.target["Arn"])
        name = function_name(arn)
        url = await self.url(name) if name is not None else None
        if url is None:
            return Failure("NO_RESOURCE", f"Function {name or arn} has no URL mapping.", False)
        if job.payload is None:
            return None
        headers = {"Content-Type": "application/json", DELIVERY_ID_HEADER: job.delivery_id, HOPS_HEADER: str(job.hops)}
        sent = await send(self.client, "POST", url, content=job.payload, headers=headers)
        return sent.failure


async def missing_function(redis: aioredis.Redis, keys: Keys, target: dict[str, object]) -> str | None:
    """PutTargets' check: the ValidationException message for a function target without a URL mapping, or None."""
    name = function_name(str(target.get("Arn", "")))
    if name is None or await redis.hexists(keys.functions, name):
        return None
    return missing_function_message(str(target.get("Id", "")), name)
