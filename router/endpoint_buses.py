"""The buses a global endpoint names, by ARN: which (account, region) namespace holds each, and whether it exists.

A global endpoint's two event buses are in two regions (`arn:aws:events:REGION:ACCOUNT:event-bus/NAME`), so the
endpoint code looks a bus up in the bus's own namespace (router.namespace), not in the request's: `bus_exists`
asks that namespace's bus store, and `BusRef.namespace` is where PutEvents puts what the endpoint routes there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from router.namespace import Namespace
from router.state import AppState
from router.store import stores

__all__ = ["BusRef", "bus_exists", "parse_bus_arn"]

_BUS_ARN = re.compile(r"^arn:(aws[a-z-]*):events:([a-z]+-[a-z-]+-\d+):(\d{12}):event-bus/([\w.-]+)$")
"""The model's NonPartnerEventBusArn pattern, with the parts captured."""


@dataclass(frozen=True, slots=True)
class BusRef:
    """One event bus of one namespace."""

    partition: str
    region: str
    account: str
    name: str

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:events:{self.region}:{self.account}:event-bus/{self.name}"

    @property
    def namespace(self) -> Namespace:
        return Namespace(self.account, self.region)


def parse_bus_arn(arn: str) -> BusRef | None:
    """The bus an EndpointEventBus ARN names (None when it is not a bus ARN of the model's form)."""
    found = _BUS_ARN.match(arn)
    if found is None:
        return None
    partition, region, account, name = found.groups()
    return BusRef(partition, region, account, name)


async def bus_exists(state: AppState, ref: BusRef) -> bool:
    buses, _ = stores(state, ref.namespace)
    return await buses.get(ref.name) is not None
