"""The buses a global endpoint names, by ARN: which (account, region) holds each, whether it exists, appending to it.

A global endpoint's two event buses are in two regions (`arn:aws:events:REGION:ACCOUNT:event-bus/NAME`), so
everything the endpoint code does with a bus goes through this seam instead of through the request's own bus
store: `bus_exists` (is that bus there, in its namespace) and `append` (PutEvents' durable append, into that
namespace). A router serves the buses of the namespaces it holds (router.namespace resolves one per request);
a bus of a namespace it does not hold is reported as not there, as an entry naming another region's bus ARN is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from router.api.put_events import append_to_bus
from router.state import AppState
from router.store import stores

__all__ = ["BusRef", "append", "bus_exists", "parse_bus_arn"]

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


def parse_bus_arn(arn: str) -> BusRef | None:
    """The bus an EndpointEventBus ARN names (None when it is not a bus ARN of the model's form)."""
    found = _BUS_ARN.match(arn)
    if found is None:
        return None
    partition, region, account, name = found.groups()
    return BusRef(partition, region, account, name)


def _held(state: AppState, ref: BusRef) -> bool:
    """Whether this router holds the bus's namespace."""
    return (ref.account, ref.region) == (state.account_id, state.region)


async def bus_exists(state: AppState, ref: BusRef) -> bool:
    if not _held(state, ref):
        return False
    buses, _ = stores(state)
    return await buses.get(ref.name) is not None


async def append(
    state: AppState, ref: BusRef, items: list[tuple[int, str, bytes]], results: list[dict[str, Any]], hops: int | None
) -> None:
    """Append built envelopes to the bus, filling in their results as PutEvents does."""
    if not _held(state, ref):
        failure = {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": f"Event bus {ref.name} does not exist."}
        for index, _, _ in items:
            results[index] = failure
        return
    await append_to_bus(state, ref.name, items, results, hops)
