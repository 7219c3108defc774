"""Queues as the SQS API sees them: the registry, queue URLs, attributes (with a short per-process cache), tags.

A queue exists while its `attributes` hash or its stream exists (router.sqs.scripts): CreateQueue writes the
attributes; a rule's first delivery to `arn:aws:sqs:...:NAME` creates the stream, and with it the queue, with the
default attributes. Every queue name is also in the account-wide `sb:{meta}:queues` sorted set, which ListQueues
pages: CreateQueue adds it, and so does every delivery to a queue (router.delivery: a `ZADD NX` in the pipeline of
its appends).
DeleteQueue removes the name first, then every key of the queue in one script.

Attributes are read once per second per process at most (`QueueStore.config`), as SQS itself documents that
attribute changes take a while to propagate; a change made by this process is seen at once.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from router.keys import Keys
from router.sqs import scripts
from router.sqs.errors import InvalidParameterValue, QueueDoesNotExist, QueueNameExists
from router.sqs.queue_attributes import QueueConfig, check_attributes, is_fifo_name, queue_name_ok

__all__ = ["QueueStore", "queue_name_from_url"]

_CACHE_S = 1.0


def queue_name_from_url(url: str, account_id: str) -> str:
    """The queue a QueueUrl names (`<scheme>://<host>/<account>/<name>`); QueueDoesNotExist for anything else."""
    path = urlsplit(url).path if "://" in url else url
    parts = [p for p in path.split("/") if p]
    if len(parts) != 2 or parts[0] != account_id or not queue_name_ok(parts[1]):
        raise QueueDoesNotExist()
    return parts[1]


class QueueStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys, account_id: str, region: str) -> None:
        self.redis = redis
        self.keys = keys
        self.account_id = account_id
        self.region = region
        self._cache: dict[str, tuple[float, QueueConfig]] = {}
        self._delete = redis.register_script(scripts.DELETE_QUEUE)

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    def url(self, base: str, name: str) -> str:
        return f"{base}/{self.account_id}/{name}"

    async def config(self, name: str, *, fresh: bool = False) -> QueueConfig:
        """The queue's attributes; QueueDoesNotExist when there is no such queue."""
        now = time.monotonic()
        cached = self._cache.get(name)
        if cached is not None and not fresh and now - cached[0] < _CACHE_S:
            return cached[1]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.queue_attributes(name))
            pipe.exists(self.keys.queue(name))
            stored, stream = await pipe.execute()
        if not stored and not stream:
            self._cache.pop(name, None)
            raise QueueDoesNotExist()
        config = QueueConfig(name, {_text(k): _text(v) for k, v in stored.items()})
        self._cache[name] = (now, config)
        return config

    def forget(self, name: str) -> None:
        self._cache.pop(name, None)

    async def create(self, name: str, raw_attributes: object, tags: dict[str, str]) -> None:
        if not queue_name_ok(name):
            raise InvalidParameterValue(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            )
        fifo = is_fifo_name(name)
        attributes = check_attributes(raw_attributes, fifo=fifo, creating=True)
        if attributes.get("FifoQueue") == "true" and not fifo:
            raise InvalidParameterValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
                "must end with .fifo suffix and be 1 to 80 in length."
            )
        if fifo and attributes.get("FifoQueue") != "true":
            raise InvalidParameterValue(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            )
        key = self.keys.queue_attributes(name)
        stored = {_text(k): _text(v) for k, v in (await self.redis.hgetall(key)).items()}
        if stored:
            existing = QueueConfig(name, stored)
            for attribute, value in attributes.items():
                if existing.get(attribute) != value:
                    raise QueueNameExists(
                        f"A queue already exists with the same name and a different value for attribute {attribute}"
                    )
        else:
            now_s = str(int(time.time()))
            record = {**attributes, "CreatedTimestamp": now_s, "LastModifiedTimestamp": now_s}
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hsetnx(key, "CreatedTimestamp", now_s)
                pipe.hset(key, mapping=_mapping({k: v for k, v in record.items() if k != "CreatedTimestamp"}))
                if tags:
                    pipe.hset(self.keys.queue_tags(name), mapping=_mapping(tags))
                await pipe.execute()
        await self.redis.zadd(self.keys.queues, {name: 0})
        self.forget(name)

    async def set_attributes(self, name: str, raw_attributes: object) -> None:
        config = await self.config(name, fresh=True)
        attributes = check_attributes(raw_attributes, fifo=config.fifo, creating=False)
        if not attributes:
            return
        attributes["LastModifiedTimestamp"] = str(int(time.time()))
        key = self.keys.queue_attributes(name)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "CreatedTimestamp", attributes["LastModifiedTimestamp"])
            pipe.hset(key, mapping=_mapping(attributes))
            await pipe.execute()
        self.forget(name)

    async def delete(self, name: str) -> None:
        await self.config(name, fresh=True)
        await self.redis.zrem(self.keys.queues, name)
        await self._delete(keys=self.keys.queue_sqs_keys(name), args=[])
        self.forget(name)

    async def names(self, prefix: str, after: str | None, limit: int) -> tuple[list[str], str | None]:
        """Up to `limit` names starting with `prefix` after name `after`; and the last name when there are more."""
        low = f"({after}" if after else f"[{prefix}"
        high = f"[{prefix}\xff" if prefix else "+"
        raw = await self.redis.zrangebylex(self.keys.queues, low, high, start=0, num=limit + 1)
        names = [_text(n) for n in raw]
        names = [n for n in names if n.startswith(prefix)]
        if len(names) > limit:
            return names[:limit], names[limit - 1]
        return names, None

    async def register(self, name: str) -> None:
        """Add a queue that exists (a stream) to the registry: ListQueues shows it from then on."""
        await self.redis.zadd(self.keys.queues, {name: 0}, nx=True)

    async def tags(self, name: str) -> dict[str, str]:
        await self.config(name)
        raw = await self.redis.hgetall(self.keys.queue_tags(name))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def tag(self, name: str, tags: dict[str, str]) -> None:
        await self.config(name)
        if tags:
            await self.redis.hset(self.keys.queue_tags(name), mapping=_mapping(tags))

    async def untag(self, name: str, keys: list[str]) -> None:
        await self.config(name)
        if keys:
            await self.redis.hdel(self.keys.queue_tags(name), *keys)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _mapping(values: dict[str, str]) -> Any:
    """A str -> str dict as redis-py's `mapping` (its type is invariant in the key and value types)."""
    return values
