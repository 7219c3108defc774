"""The internal discovery target: the only work discovery adds to the ingest path.

For each event the managed rule matches, the ingest worker calls `DiscoveryTarget`, which computes the event's
schema name and structural key (`infer.shape_key`, values ignored) and, unless this process sent the same
(bus, schema, key) in the last `resend_s` seconds, stages one `XADD` to the bus's discovery stream (in the bus's
hash slot, `schemas.keys.SchemaKeys.discovery_stream`, capped at about `STREAM_MAX_LEN` entries), which commits with
the ingest acknowledgement. So unchanged traffic costs a parse and a dictionary look-up here, and never reaches
Redis or the inference worker (`schemas.discovery.worker`).

The re-send window makes the look-up self-healing: if a staged copy is lost (a batch that did not commit and was
processed again, a stream trimmed while the worker was behind), the same shape is sent again within `resend_s`,
and merging a shape the schema already has changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from router.extensions import InternalDelivery
from schemas.discovery.infer import schema_name, shape_key
from schemas.keys import SchemaKeys

__all__ = ["RESEND_S", "STREAM_MAX_LEN", "DiscoveryTarget"]

STREAM_MAX_LEN = 10_000
"""Events waiting for inference per bus; when the worker falls behind, the oldest are dropped."""
RESEND_S = 60.0
MAX_KEYS = 100_000


class DiscoveryTarget:
    """The `schemas-discovery` internal target kind's handler (router.extensions.InternalTarget)."""

    def __init__(self, *, resend_s: float = RESEND_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.resend_s = resend_s
        self.clock = clock
        self.sent: dict[tuple[str, str, int], float] = {}

    def __call__(self, delivery: InternalDelivery) -> list[tuple[str | bytes | int, ...]]:
        try:
            event = orjson.loads(delivery.event)
            name = schema_name(event["source"], event["detail-type"])
            key = (delivery.bus, name, shape_key(event["detail"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return []
        now = self.clock()
        last = self.sent.get(key)
        if last is not None and now - last < self.resend_s:
            return []
        if len(self.sent) >= MAX_KEYS:
            self.sent.clear()
        self.sent[key] = now
        stream = SchemaKeys.discovery_stream(delivery.keys, delivery.bus)
        return [("XADD", stream, "MAXLEN", "~", STREAM_MAX_LEN, "*", "event", delivery.event)]
