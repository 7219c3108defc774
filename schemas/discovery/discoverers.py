"""Discoverers and their managed rules, as AWS builds discovery.

A discoverer (`events-event-bus-<bus>`, ARN `arn:aws:schemas:<region>:<account>:discoverer/<id>`) lives in the
`{schemas}` slot (`schemas.keys`). While it is STARTED, its bus has the managed rule
`Schemas-events-event-bus-<bus>` (`ManagedBy: schemas.amazonaws.com`, AWS's description and pattern), whose one
target is the internal discovery target (`router.extensions.internal_target_arn("schemas-discovery", id)`): the
ingest worker copies each matched event into the bus's small discovery stream (`schemas.discovery.target`), and the
inference worker (`schemas.discovery.worker`) takes it from there. Users cannot change the rule (PutRule,
DeleteRule without Force, PutTargets and RemoveTargets answer ManagedRuleException, as for every managed rule).
StopDiscoverer disables the rule; StartDiscoverer enables it again; DeleteDiscoverer deletes it.

Discoverers live in the request's (account, region) namespace (router.namespace), on a bus of that namespace: the
`discoverers` hash holds every namespace's, keyed by the discoverer's key-layout name (router.keys `Keys.scoped`:
the id at home, `ACCOUNT@REGION@ID` elsewhere); the API's functions here act in the request's namespace, and
`every_discoverer` gives the inference worker every namespace's.

The rule's pattern keeps AWS's services' own events (`aws.*`, which `aws.events` documents) out of discovery, and
so also the `aws.schemas` "Schema Version Created" events discovery itself emits.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.arns import Arns
from router.extensions import internal_target_arn
from router.namespace import Namespace
from router.state import AppState
from router.store import stores
from router.store.protocol import Record
from schemas.errors import BadRequestException, ConflictException, NotFoundException, ServiceUnavailableException
from schemas.scripts import CAS_ATTEMPTS, redis_errors, status
from schemas.services import arns, store

__all__ = [
    "MANAGED_BY",
    "PATTERN",
    "RULE_DESCRIPTION",
    "TARGET_KIND",
    "all_discoverers",
    "change_discoverer",
    "create_discoverer",
    "delete_discoverer",
    "discoverer_id",
    "every_discoverer",
    "get_discoverer",
    "rule_name",
    "set_rule",
]

TARGET_KIND = "schemas-discovery"
MANAGED_BY = "schemas.amazonaws.com"
RULE_DESCRIPTION = "This rule is used to route Events to Schema Discoverer"
PATTERN = orjson.dumps({"source": [{"prefix": "aws.partner/"}, {"anything-but": {"prefix": "aws."}}]}).decode()
_TARGET_ID = "SchemasDiscoveryTarget"


def discoverer_id(bus: str) -> str:
    return f"events-event-bus-{bus}"


def rule_name(bus: str) -> str:
    return f"Schemas-{discoverer_id(bus)}"


def not_found(discoverer: str) -> NotFoundException:
    return NotFoundException(f"Discoverer {discoverer} does not exist.")


def _field(state: AppState, discoverer: str) -> str:
    """The `discoverers` field of the request's namespace's discoverer `discoverer` (its key-layout name)."""
    return state.keys.scoped(discoverer, state.namespace)


async def get_discoverer(state: AppState, discoverer: str) -> Record | None:
    registry = store(state)
    with redis_errors("read discoverer"):
        raw = await state.redis.hget(registry.keys.discoverers, _field(state, discoverer))
    return orjson.loads(raw) if raw is not None else None


async def all_discoverers(state: AppState) -> list[Record]:
    """The request's namespace's discoverers, by id."""
    return [record for namespace, record in await every_discoverer(state) if namespace == state.namespace]


async def every_discoverer(state: AppState) -> list[tuple[Namespace, Record]]:
    """Every namespace's discoverers, each with its namespace, by key-layout name."""
    registry = store(state)
    with redis_errors("list discoverers"):
        raw = await state.redis.hgetall(registry.keys.discoverers)
    found = []
    for field, value in sorted(raw.items()):
        namespace, _ = state.keys.unscoped(field.decode() if isinstance(field, bytes) else str(field))
        found.append((namespace, orjson.loads(value)))
    return found


async def _cas(state: AppState, discoverer: str, expected: bytes | str | None, new: Record | None) -> bool:
    registry = store(state)
    args: list[Any] = [_field(state, discoverer), expected or b"", orjson.dumps(new) if new is not None else b""]
    with redis_errors("change discoverer"):
        outcome = status(await registry.hash_cas(keys=[registry.keys.discoverers], args=args))
    return outcome == "OK"


async def set_rule(state: AppState, bus: str, discoverer: str, enabled: bool | None) -> None:
    """Create, enable or disable (`enabled`), or delete (None) the discoverer's managed rule and its target."""
    _, rules = stores(state)
    name = rule_name(bus)
    if enabled is None:
        await rules.update(bus, name, lambda current: None, keep_targets=False)
        return
    router_arns = Arns(state.region, state.account_id)

    def managed(current: Record | None) -> Record:
        return {
            "Name": name,
            "Arn": router_arns.rule(bus, name),
            "EventBusName": bus,
            "EventPattern": PATTERN,
            "ScheduleExpression": None,
            "State": "ENABLED" if enabled else "DISABLED",
            "Description": RULE_DESCRIPTION,
            "RoleArn": None,
            "ManagedBy": MANAGED_BY,
            "CreatedBy": state.account_id,
            "Tags": current["Tags"] if current is not None else [],
        }

    await rules.update(bus, name, managed)
    target = {"Id": _TARGET_ID, "Arn": internal_target_arn(TARGET_KIND, discoverer, state.region, state.account_id)}
    await rules.put_targets(bus, name, [target])


def _bus_of(state: AppState, source_arn: str) -> str:
    prefix = f"arn:aws:events:{state.region}:{state.account_id}:event-bus/"
    if not source_arn.startswith(prefix) or len(source_arn) == len(prefix):
        raise BadRequestException(f"SourceArn {source_arn} is not the ARN of an event bus of this account and region.")
    return source_arn[len(prefix) :]


async def create_discoverer(
    state: AppState, source_arn: str, description: str | None, cross_account: bool, tags: dict[str, str]
) -> Record:
    bus = _bus_of(state, source_arn)
    buses, _ = stores(state)
    if await buses.get(bus) is None:
        raise BadRequestException(f"Event bus {bus} does not exist.")
    discoverer = discoverer_id(bus)
    record: Record = {
        "DiscovererId": discoverer,
        "DiscovererArn": arns(state).discoverer(discoverer),
        "SourceArn": source_arn,
        "EventBusName": bus,
        "State": "STARTED",
        "CrossAccount": cross_account,
        "Description": description,
        "Tags": tags,
    }
    if not await _cas(state, discoverer, None, record):
        raise ConflictException(f"Discoverer {discoverer} already exists.")
    await set_rule(state, bus, discoverer, True)
    return record


async def change_discoverer(state: AppState, discoverer: str, mutate: Any) -> Record:
    """Apply `mutate(record) -> record` (check-and-set), then bring the managed rule in line with its State."""
    registry = store(state)
    for _ in range(CAS_ATTEMPTS):
        with redis_errors("read discoverer"):
            raw = await state.redis.hget(registry.keys.discoverers, _field(state, discoverer))
        if raw is None:
            raise not_found(discoverer)
        current = orjson.loads(raw)
        new = mutate(current)
        if await _cas(state, discoverer, raw, new):
            if new["State"] != current["State"]:
                await set_rule(state, new["EventBusName"], discoverer, new["State"] == "STARTED")
            return dict(new)
    raise ServiceUnavailableException("The discoverer is being changed concurrently; try again.")


async def delete_discoverer(state: AppState, discoverer: str) -> None:
    record = await get_discoverer(state, discoverer)
    if record is None:
        raise not_found(discoverer)
    with redis_errors("read discoverer"):
        raw = await state.redis.hget(store(state).keys.discoverers, _field(state, discoverer))
    if raw is None or not await _cas(state, discoverer, raw, None):
        raise not_found(discoverer)
    await set_rule(state, record["EventBusName"], discoverer, None)
