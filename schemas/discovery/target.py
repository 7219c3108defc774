"""The internal discovery target: the only work discovery adds to the ingest path.

For each event the managed rule matches, the ingest worker stages one `XADD` to the bus's discovery stream (in the
bus's hash slot, `schemas.keys.SchemaKeys.discovery_stream`), capped at about `STREAM_MAX_LEN` entries, which
commits with the ingest acknowledgement. Inference happens later, in `schemas.discovery.worker`.
"""

from __future__ import annotations

from router.extensions import InternalDelivery
from schemas.keys import SchemaKeys

__all__ = ["STREAM_MAX_LEN", "discovery_target"]

STREAM_MAX_LEN = 10_000
"""Events waiting for inference per bus; when the worker falls behind, the oldest are dropped (discovery samples)."""


def discovery_target(delivery: InternalDelivery) -> list[tuple[str | bytes | int, ...]]:
    stream = SchemaKeys.discovery_stream(delivery.keys, delivery.bus)
    return [("XADD", stream, "MAXLEN", "~", STREAM_MAX_LEN, "*", "event", delivery.event)]
