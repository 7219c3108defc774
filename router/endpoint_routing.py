"""PutEvents through a global endpoint (`EndpointId`): pick the region, put there, replicate to the other one.

The routing step runs before PutEvents' append. The endpoint decides the region and each entry still names its
bus (`EventBusName`, `default` when omitted), as on AWS, where the buses of an endpoint have the same name in both
regions: with the primary's health check healthy (or never set) the request is put in the primary region's
namespace (router.namespace), with it unhealthy in the secondary's, exactly as a PutEvents signed for that region
(envelopes with that region, its buses, their resource policies for another account's bus). An entry may name its
bus by the ARN of either of the endpoint's regions: it means the bus of that name wherever the endpoint routes.

Replication (`ReplicationConfig.State` ENABLED): AWS "sends all custom events to the event buses in the primary
and secondary Regions", asynchronously, through managed rules, and processes the events meant for a failed primary
once it is back. Here every region is always up (the health check is only a declaration), so the copy is appended
to the other region's bus of the same name in the same request, with the same envelope (event id included); an
entry is answered as accepted only when both appends succeeded, else it carries the error of the one that failed
(a retry can then put it twice in the bus that took it: with replication, AWS asks consumers to be idempotent too).
Entries put to another account's bus are not replicated (the endpoint's buses are its own account's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from router.api.endpoints import ACTIVE, endpoint_buses
from router.api.put_events import INTERNAL_FAILURE, Replicate, append_to_bus
from router.errors import InvalidStateException, ResourceNotFoundException
from router.namespace import BusArn, entered
from router.state import AppState
from router.store.endpoints import HEALTHY, endpoint_store

__all__ = ["Route", "endpoint_route", "put_through_endpoint"]

_Item = tuple[int, str, bytes]
Put = Callable[[AppState, dict[str, Any], Replicate | None], Awaitable[Mapping[str, Any]]]
"""PutEvents' own steps (router.api.put_events), given the request and the replication step."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where one PutEvents request through an endpoint goes."""

    endpoint: str
    active: BusArn
    """The region the entries go to (its bus name is the endpoint's; each entry names its own)."""
    other: BusArn
    """The endpoint's other region."""
    replicated: bool
    """Whether replication is ENABLED: each event is copied to `other`."""

    def entries(self, entries: list[Any]) -> list[Any]:
        """The entries with an `EventBusName` ARN of either of the endpoint's regions turned into the bus name."""
        prefixes = tuple(
            f"arn:{self.active.partition}:events:{r}:{self.active.account}:event-bus/"
            for r in (self.active.region, self.other.region)
        )
        kept: list[Any] = []
        for entry in entries:
            name = entry.get("EventBusName") if isinstance(entry, dict) else None
            if isinstance(name, str) and name.startswith(prefixes):
                entry = {**entry, "EventBusName": name.rsplit("event-bus/", 1)[1]}
            kept.append(entry)
        return kept


async def endpoint_route(state: AppState, endpoint_id: str) -> Route:
    """The route of endpoint `endpoint_id` now (its record and health check read in one round trip)."""
    found = await endpoint_store(state).route(endpoint_id)
    if found is None or found[0]["Arn"].split(":")[4] != state.account_id:
        raise ResourceNotFoundException(f"Endpoint {endpoint_id} does not exist.")
    record, health = found
    if record["State"] != ACTIVE:
        raise InvalidStateException(
            f"Endpoint {record['Name']} is in state {record['State']}; only an ACTIVE endpoint routes events."
        )
    primary, secondary = endpoint_buses(record)
    active, other = (primary, secondary) if health == HEALTHY else (secondary, primary)
    return Route(record["Name"], active, other, record["ReplicationConfig"]["State"] == "ENABLED")


async def put_through_endpoint(state: AppState, body: dict[str, Any], put: Put) -> Mapping[str, Any]:
    """PutEvents with `EndpointId`: the request put in the namespace the endpoint routes to, then replicated."""
    route = await endpoint_route(state, body["EndpointId"])
    entries = body.get("Entries")
    if isinstance(entries, list):
        body = {**body, "Entries": route.entries(entries)}

    async def replicate(by_bus: dict[str, list[_Item]], results: list[dict[str, Any]], hops: int | None) -> None:
        await _replicate(state, route, by_bus, results, hops)

    with entered(route.active.namespace):
        return await put(state, body, replicate if route.replicated else None)


async def _replicate(
    state: AppState, route: Route, by_bus: dict[str, list[_Item]], results: list[dict[str, Any]], hops: int | None
) -> None:
    """Append the accepted items of each of the active namespace's buses to the replica's bus of the same name."""
    active, replica = route.active, route.other
    for bus, items in by_bus.items():
        owner, name = state.keys.unscoped(bus)
        accepted = [item for item in items if "EventId" in results[item[0]]]
        if owner != active.namespace or not accepted:
            continue
        copies = list(results)
        for index, _, _ in accepted:
            copies[index] = INTERNAL_FAILURE  # what an append that raised leaves
        await append_to_bus(state, state.keys.scoped(name, replica.namespace), accepted, copies, hops)
        for index, _, _ in accepted:
            if "EventId" not in copies[index]:
                results[index] = copies[index]
