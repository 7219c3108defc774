"""Cross-account bus targets are authorized at delivery (router.delivery.bus_policy) against real Redis (single and
cluster): the destination bus's current policy decides each delivery, its compiled form is reused while the bus
record is unchanged and recomputed once it changes, and a target on a bus of the rule's own account never reads it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from router.arns import Arns
from router.delivery.bus_target import BusTransport, cross_account
from router.delivery.jobs import Job
from router.keys import Keys
from router.namespace import Namespace
from router.policies import access_denied_message, permission_statement

pytestmark = pytest.mark.integration

KEYS = Keys()
HOME = KEYS.home
OTHER = Namespace("111122223333", "us-east-1")
THIRD = Namespace("444455556666", "us-east-1")


def _job(n: int, target: dict[str, Any], bus: str = "") -> Job:
    return Job(str(n).encode(), f"d{n}", b'{"n": %d}' % n, "r", orjson.dumps(target), target, 0, 0, 0, bus=bus)


async def _bus(redis: aioredis.Redis, namespace: Namespace, name: str, policy: dict[str, Any] | None) -> str:
    """Make bus `name` of `namespace` as the bus store keeps it (registry record and `exists` marker)."""
    bus = KEYS.scoped(name, namespace)
    record = {"Name": name, "Arn": namespace.bus_arn(name), "Policy": policy}
    await redis.hset(KEYS.buses, bus, orjson.dumps(record))
    await redis.set(KEYS.bus_exists(bus), 1)
    return bus


def _allow(*accounts: str, resource: str) -> dict[str, Any]:
    statements = [permission_statement(a, "events:PutEvents", a, resource, None) for a in accounts]
    return {"Version": "2012-10-17", "Statement": statements}


def test_cross_account_is_about_the_rule_s_account() -> None:
    other_bus = OTHER.bus_arn("central")
    assert cross_account(KEYS, "default", other_bus)
    assert not cross_account(KEYS, KEYS.scoped("x", OTHER), other_bus)
    assert not cross_account(KEYS, "default", HOME.bus_arn("central"))
    west = Namespace(HOME.account_id, "us-west-1")
    assert not cross_account(KEYS, "default", west.bus_arn("central"))  # another region of the same account
    assert not cross_account(KEYS, "default", "arn:aws:sqs:us-east-1:111122223333:q")


async def test_same_account_targets_never_read_a_policy(redis_client: aioredis.Redis) -> None:
    await _bus(redis_client, HOME, "local", None)  # no policy at all: the account's own rules need none
    transport = BusTransport(redis_client, KEYS, Arns(HOME.region, HOME.account_id))
    target = {"Id": "t", "Arn": HOME.bus_arn("local")}
    assert await transport.deliver([_job(n, target) for n in range(3)]) == [None, None, None]
    assert transport.policies.reads == 0
    assert await redis_client.xlen(KEYS.ingest("local")) == 3


async def test_the_destination_policy_decides_each_delivery(redis_client: aioredis.Redis) -> None:
    arn = OTHER.bus_arn("central")
    central = await _bus(redis_client, OTHER, "central", _allow(HOME.account_id, resource=arn))
    transport = BusTransport(redis_client, KEYS, Arns(HOME.region, HOME.account_id))
    target = {"Id": "t", "Arn": arn}
    third_bus = KEYS.scoped("source", THIRD)

    # allowed for the home account's rules, refused for the third account's: one registry read per batch
    results = await transport.deliver([_job(1, target), _job(2, target, third_bus), _job(3, target)])
    assert results[0] is None
    assert results[2] is None
    refused = results[1]
    assert refused is not None
    assert (refused.code, refused.retryable) == ("NO_PERMISSIONS", False)
    assert refused.message == access_denied_message(THIRD.account_id, arn)
    assert await redis_client.xlen(KEYS.ingest(central)) == 2
    assert (transport.policies.reads, transport.policies.compilations) == (1, 1)

    # unchanged record: the compiled policy is reused
    assert await transport.deliver([_job(4, target)]) == [None]
    assert (transport.policies.reads, transport.policies.compilations) == (2, 1)

    # the policy no longer allows the home account (RemovePermission): the next delivery is refused
    await _bus(redis_client, OTHER, "central", _allow(THIRD.account_id, resource=arn))
    [after] = await transport.deliver([_job(5, target)])
    assert after is not None
    assert (after.code, after.retryable) == ("NO_PERMISSIONS", False)
    assert transport.policies.compilations == 2
    assert await redis_client.xlen(KEYS.ingest(central)) == 3

    # a Deny statement wins over the Allow; no policy at all allows nothing
    deny = _allow(HOME.account_id, resource=arn)
    deny["Statement"].append({**deny["Statement"][0], "Sid": "no", "Effect": "Deny"})
    await _bus(redis_client, OTHER, "central", deny)
    assert (await transport.deliver([_job(6, target)]))[0] is not None
    await _bus(redis_client, OTHER, "central", None)
    assert (await transport.deliver([_job(7, target)]))[0] is not None

    # a bus that no longer exists allows nothing (another account's buses are not visible to the caller)
    await redis_client.hdel(KEYS.buses, central)
    [gone] = await transport.deliver([_job(8, target)])
    assert gone is not None
    assert gone.code == "NO_PERMISSIONS"
    assert await redis_client.xlen(KEYS.ingest(central)) == 3


async def test_a_schedulers_delivery_into_another_namespaces_bus_reads_no_policy(redis_client: aioredis.Redis) -> None:
    """EventBridge Scheduler's jobs (a delivery owner that is not a bus, router.keys.is_bus) act with the schedule's
    role: a non-home group's schedule reaches its own account's bus, which has no policy, and is not refused as a
    home-account rule would be."""
    from router.schedules.scheduler.firing import delivery_owner

    await _bus(redis_client, OTHER, "default", None)
    transport = BusTransport(redis_client, KEYS, Arns(HOME.region, HOME.account_id))
    target = {"Id": "t", "Arn": OTHER.bus_arn("default")}
    owner = delivery_owner(KEYS.scoped("ops", OTHER))
    assert await transport.deliver([_job(1, target, bus=owner)]) == [None]
    assert await redis_client.xlen(KEYS.ingest(KEYS.scoped("default", OTHER))) == 1
    # The same delivery made by a home-account rule is refused: the bus's (absent) policy allows no other account.
    [refused] = await transport.deliver([_job(2, target, bus="default")])
    assert refused is not None
    assert refused.code == "NO_PERMISSIONS"
