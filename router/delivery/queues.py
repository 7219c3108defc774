"""Queue targets: `arn:aws:sqs:REGION:ACCOUNT:NAME` delivers into the Redis stream `sb:{queue:NAME}:messages`.

Queues are Switchboard's stand-in for SQS: the usual dead-letter queue, and the usual input of a saga consumer.
A queue exists as soon as something is delivered to it; it is named by NAME alone (region and account in the ARN are
not checked, so ARNs copied from an AWS account work unchanged). Each message is one stream entry; a consumer in any
language reads it with a consumer group (`XREADGROUP`, then `XACK`), see docs/queues.md. Fields:

| field | what |
|---|---|
| `message_id` | a UUID, new for every message (a redelivery of the same delivery gets a new one) |
| `delivery_id` | `<event id>:<rule>:<target id>`: equal for duplicates, so consumers can drop them |
| `body` | the target's input: the event JSON, or what Input / InputPath / InputTransformer made of it |
| `sent_ms` | when the router appended it (epoch ms) |
| `group_id` | the target's `SqsParameters.MessageGroupId`, when set |
| `attributes` | JSON object of string message attributes, when there are any (DLQ messages: RULE_ARN, ...) |

Every queue a delivery writes to is also added to `sb:{meta}:queues`, the queue list of the SQS API (router.sqs), so
ListQueues shows queues created on first delivery.

Most queue deliveries are made inline by the ingest worker (router.delivery.sink, same fields). A batch of *jobs*
(the fallback and retry path) is one pipelined round trip (one `XADD` per message); the job acknowledgement follows
in the next round trip, so a crash in between redelivers: at least once, never lost. Streams are not trimmed: a queue
keeps its messages until a consumer or an operator trims it (`XTRIM`), like a queue with unlimited retention.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router import uuids
from router.delivery.jobs import Job
from router.delivery.retry import Failure
from router.keys import Keys

__all__ = ["QueueTransport", "message_fields", "queue_name"]


def queue_name(arn: str) -> str | None:
    """The queue an SQS ARN names; None when the text is no SQS queue ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[5] or "{" in parts[5] or "}" in parts[5]:
        return None
    return parts[5]


def message_fields(
    delivery_id: str,
    body: bytes,
    *,
    attributes: Mapping[str, str] | None = None,
    group_id: str | None = None,
    now_ms: int | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "message_id": uuids.one(),
        "delivery_id": delivery_id,
        "body": body,
        "sent_ms": str(int(time.time() * 1000) if now_ms is None else now_ms),
    }
    if group_id:
        fields["group_id"] = group_id
    if attributes:
        fields["attributes"] = orjson.dumps(dict(attributes))
    return fields


class QueueTransport:
    """Delivers a batch of jobs to their queues in one pipelined round trip."""

    batched = True

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def deliver(self, jobs: Sequence[Job]) -> list[Failure | None]:
        results: list[Failure | None] = [None] * len(jobs)
        now_ms = int(time.time() * 1000)
        names: dict[str, int] = {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for index, job in enumerate(jobs):
                name = queue_name(str(job.target["Arn"]))
                if name is None:
                    results[index] = Failure("NO_RESOURCE", f"{job.target['Arn']} is not an SQS queue ARN.", False)
                    continue
                if job.payload is None:
                    continue
                group = (job.target.get("SqsParameters") or {}).get("MessageGroupId")
                fields = message_fields(job.delivery_id, job.payload, group_id=group, now_ms=now_ms)
                pipe.xadd(self.keys.queue(name), fields)  # type: ignore[arg-type]
                names[name] = 0
            if names:
                pipe.zadd(self.keys.queues, names, nx=True)
            try:
                await pipe.execute()
            except (RedisError, OSError) as err:
                failure = Failure("CONNECTION_ERROR", f"queue write failed: {err}", True)
                return [r if r is not None else failure for r in results]
        return results

    async def send(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Append (queue name, fields) messages; raises on a Redis error (the caller reports it)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, fields in messages:
                pipe.xadd(self.keys.queue(name), fields)  # type: ignore[arg-type]
            if messages:
                pipe.zadd(self.keys.queues, dict.fromkeys((name for name, _ in messages), 0), nx=True)
            await pipe.execute()
