"""The buses a global endpoint names, by ARN: which (account, region) namespace holds each, and whether it exists.

A global endpoint's two event buses are in two regions (`arn:aws:events:REGION:ACCOUNT:event-bus/NAME`), read by
router.namespace's `parse_bus_arn` (the one bus-ARN reader), so the endpoint code looks a bus up in the bus's own
namespace, not in the request's: `bus_exists` asks that namespace's bus store, and `BusArn.namespace` is where
PutEvents puts what the endpoint routes there. `endpoint_bus` refuses what the model's NonPartnerEventBusArn does.
"""

from __future__ import annotations

from router.namespace import BusArn, parse_bus_arn
from router.state import AppState
from router.store import stores

__all__ = ["bus_exists", "endpoint_bus"]


def endpoint_bus(arn: str) -> BusArn | None:
    """The bus an EndpointEventBus ARN names (None when it is no bus ARN, or a partner bus's)."""
    parsed = parse_bus_arn(arn)
    return None if parsed is None or parsed.partner else parsed


async def bus_exists(state: AppState, ref: BusArn) -> bool:
    buses, _ = stores(state, ref.namespace)
    return await buses.get(ref.name) is not None
