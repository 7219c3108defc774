"""Queues as the SQS API sees them: the registry, queue URLs, attributes (with a short per-process cache), tags.

Queues live in the caller's (account, region) namespace, as on AWS (router.namespace; docs/queues.md): the stores
name a queue by its *key-layout name* (router.keys `Keys.scoped`: the bare name in the home namespace,
`ACCOUNT@REGION@NAME` in any other), which every key of the queue is built from, so the same name in two regions or
two accounts is two queues, each with its own hash tag. `queue(namespace, name)` makes it from a request's namespace
and a queue name; `url` and `arn` read the namespace back from it (`http://HOST/ACCOUNT/NAME`,
`arn:aws:sqs:REGION:ACCOUNT:NAME`). A RedrivePolicy's dead-letter queue is the one its ARN names, in that ARN's
namespace (`dead_letter_queue`).

A queue exists while its `attributes` hash or its stream exists (router.sqs.scripts): CreateQueue writes the
attributes; a rule's first delivery to `arn:aws:sqs:...:NAME` creates the stream, and with it the queue, with the
default attributes. Every queue's key-layout name is also in the `sb:{meta}:queues` sorted set (every namespace's
queues), which ListQueues pages through for the caller's namespace: CreateQueue adds it, and so does every delivery
to a queue (router.delivery: a `ZADD NX` in the pipeline of its appends).
DeleteQueue removes the name first, then every key of the queue in one script.

Attributes are read once per second per process at most (`QueueStore.config`), as SQS itself documents that
attribute changes take a while to propagate; a change made by this process is seen at once.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from router.delivery.queues import queue_of_arn
from router.keys import Keys
from router.namespace import Namespace
from router.sqs import scripts
from router.sqs.errors import InvalidParameterValue, QueueDoesNotExist, QueueNameExists
from router.sqs.queue_attributes import QueueConfig, check_attributes, is_fifo_name, queue_name_ok

__all__ = ["QueueStore", "dead_letter_queue", "queue_name_from_url"]

_CACHE_S = 1.0


_LIST_BATCH = 1000
"""Registry names one ListQueues round trip reads (the home namespace's are picked out of every namespace's)."""


def queue_name_from_url(url: str, account_id: str) -> str:
    """The queue name a QueueUrl of account `account_id` names (`<scheme>://<host>/<account>/<name>`);
    QueueDoesNotExist for anything else (another account's URL too)."""
    path = urlsplit(url).path if "://" in url else url
    parts = [p for p in path.split("/") if p]
    if len(parts) != 2 or parts[0] != account_id or not queue_name_ok(parts[1]):
        raise QueueDoesNotExist()
    return parts[1]


def dead_letter_queue(keys: Keys, config: QueueConfig) -> tuple[str, int] | None:
    """(key-layout name of the dead-letter queue, maxReceiveCount) of the queue's RedrivePolicy, None without one:
    the queue its `deadLetterTargetArn` names, in that ARN's namespace (the source queue's when the ARN names none,
    `arn:aws:sqs:local:1:dead`)."""
    redrive = config.redrive
    if redrive is None:
        return None
    dead = queue_of_arn(keys, redrive[0], keys.unscoped(config.name)[0])
    return None if dead is None else (dead, redrive[1])


class QueueStore:
    """Every namespace's queues; each method takes a queue's key-layout name (`queue`) unless it says otherwise."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._cache: dict[str, tuple[float, QueueConfig]] = {}
        self._delete = redis.register_script(scripts.DELETE_QUEUE)

    def queue(self, namespace: Namespace, name: str) -> str:
        """The key-layout name of queue `name` of `namespace`."""
        return self.keys.scoped(name, namespace)

    def name(self, queue: str) -> str:
        """The queue's own name (what SQS shows), without its namespace."""
        return self.keys.unscoped(queue)[1]

    def arn(self, queue: str) -> str:
        namespace, name = self.keys.unscoped(queue)
        return f"arn:aws:sqs:{namespace.region}:{namespace.account_id}:{name}"

    def url(self, base: str, queue: str) -> str:
        namespace, name = self.keys.unscoped(queue)
        return f"{base}/{namespace.account_id}/{name}"

    def dead_letter_queue(self, config: QueueConfig) -> tuple[str, int] | None:
        return dead_letter_queue(self.keys, config)

    async def config(self, queue: str, *, fresh: bool = False) -> QueueConfig:
        """The queue's attributes; QueueDoesNotExist when there is no such queue."""
        now = time.monotonic()
        cached = self._cache.get(queue)
        if cached is not None and not fresh and now - cached[0] < _CACHE_S:
            return cached[1]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.queue_attributes(queue))
            pipe.exists(self.keys.queue(queue))
            stored, stream = await pipe.execute()
        if not stored and not stream:
            self._cache.pop(queue, None)
            raise QueueDoesNotExist()
        config = QueueConfig(queue, {_text(k): _text(v) for k, v in stored.items()})
        self._cache[queue] = (now, config)
        return config

    def forget(self, queue: str) -> None:
        self._cache.pop(queue, None)

    async def create(self, namespace: Namespace, name: str, raw_attributes: object, tags: dict[str, str]) -> str:
        """Create queue `name` of `namespace` (or find it with the same attributes); its key-layout name."""
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
        queue = self.queue(namespace, name)
        key = self.keys.queue_attributes(queue)
        stored = {_text(k): _text(v) for k, v in (await self.redis.hgetall(key)).items()}
        if stored:
            existing = QueueConfig(queue, stored)
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
                    pipe.hset(self.keys.queue_tags(queue), mapping=_mapping(tags))
                await pipe.execute()
        await self.redis.zadd(self.keys.queues, {queue: 0})
        self.forget(queue)
        return queue

    async def set_attributes(self, queue: str, raw_attributes: object) -> None:
        config = await self.config(queue, fresh=True)
        attributes = check_attributes(raw_attributes, fifo=config.fifo, creating=False)
        if not attributes:
            return
        attributes["LastModifiedTimestamp"] = str(int(time.time()))
        key = self.keys.queue_attributes(queue)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "CreatedTimestamp", attributes["LastModifiedTimestamp"])
            pipe.hset(key, mapping=_mapping(attributes))
            await pipe.execute()
        self.forget(queue)

    async def delete(self, queue: str) -> None:
        await self.config(queue, fresh=True)
        await self.redis.zrem(self.keys.queues, queue)
        await self._delete(keys=self.keys.queue_sqs_keys(queue), args=[])
        self.forget(queue)

    async def names(
        self, namespace: Namespace, prefix: str, after: str | None, limit: int
    ) -> tuple[list[str], str | None]:
        """Up to `limit` key-layout names of `namespace`'s queues whose name starts with `prefix`, after the queue
        named `after`; and the last one's name when there are more. Another namespace's names share a prefix
        (`ACCOUNT@REGION@`), so they are one lex range; the home namespace's bare names are read in batches, leaving
        out the other namespaces' (the only names with `@`)."""
        start = self.queue(namespace, prefix)
        low = f"({self.queue(namespace, after)}" if after else f"[{start}"
        high = f"[{start}\xff" if start else "+"
        found: list[str] = []
        while len(found) <= limit:
            batch = limit + 1 - len(found)
            if namespace == self.keys.home:  # some of what is read may be other namespaces': read ahead
                batch = max(batch, _LIST_BATCH)
            raw = [_text(n) for n in await self.redis.zrangebylex(self.keys.queues, low, high, start=0, num=batch)]
            found += [n for n in raw if self.keys.in_namespace(n, namespace) is not None and n.startswith(start)]
            if len(raw) < batch:
                break
            low = f"({raw[-1]}"
        if len(found) > limit:
            return found[:limit], self.name(found[limit - 1])
        return found, None

    async def register(self, queue: str) -> None:
        """Add a queue that exists (a stream) to the registry: ListQueues (of its namespace) shows it from then on."""
        await self.redis.zadd(self.keys.queues, {queue: 0}, nx=True)

    async def tags(self, queue: str) -> dict[str, str]:
        await self.config(queue)
        raw = await self.redis.hgetall(self.keys.queue_tags(queue))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def tag(self, queue: str, tags: dict[str, str]) -> None:
        await self.config(queue)
        if tags:
            await self.redis.hset(self.keys.queue_tags(queue), mapping=_mapping(tags))

    async def untag(self, queue: str, keys: list[str]) -> None:
        await self.config(queue)
        if keys:
            await self.redis.hdel(self.keys.queue_tags(queue), *keys)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _mapping(values: dict[str, str]) -> Any:
    """A str -> str dict as redis-py's `mapping` (its type is invariant in the key and value types)."""
    return values
