"""The active replay limit is per (account, region) namespace, as AWS's quota is (archive.replays, real Redis: single
and cluster): ten active replays in one namespace refuse an eleventh there with AWS's LimitExceededException text,
and leave every other namespace's ten free."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from archive.arns import replay_arn
from archive.keys import ArchiveKeys
from archive.replays import ACTIVE_LIMIT, ReplayStore
from router.errors import LimitExceededException
from router.keys import Keys
from router.namespace import Namespace
from router.quotas import LIMIT_EXCEEDED_MESSAGE

pytestmark = pytest.mark.integration

KEYS = Keys()
WEST = Namespace(KEYS.home.account_id, "us-west-1")
OTHER = Namespace("111122223333", KEYS.home.region)


def _record(namespace: Namespace, name: str) -> dict[str, str]:
    return {"ReplayName": name, "ReplayArn": replay_arn(namespace.arns, name)}


async def _fill(store: ReplayStore, namespace: Namespace, count: int) -> None:
    for n in range(count):
        await store.within(namespace).create(_record(namespace, f"r{n}"))


async def test_the_active_replay_limit_counts_one_namespace(redis_client: aioredis.Redis) -> None:
    store = ReplayStore(redis_client, ArchiveKeys(KEYS))
    assert store.active_limit == ACTIVE_LIMIT == 10
    for namespace in (KEYS.home, WEST, OTHER):
        await _fill(store, namespace, ACTIVE_LIMIT)
        with pytest.raises(LimitExceededException) as refused:
            await store.within(namespace).create(_record(namespace, "eleventh"))
        assert refused.value.message == LIMIT_EXCEEDED_MESSAGE
    assert len(await store.active()) == 3 * ACTIVE_LIMIT
    # an ended replay frees its own namespace's slot only
    await store.retire(KEYS.scoped("r0", WEST))
    await store.within(WEST).create(_record(WEST, "eleventh"))
    for namespace in (KEYS.home, OTHER):
        with pytest.raises(LimitExceededException):
            await store.within(namespace).create(_record(namespace, "twelfth"))


async def test_a_quota_of_zero_is_no_limit(redis_client: aioredis.Redis) -> None:
    store = ReplayStore(redis_client, ArchiveKeys(KEYS), active_limit=0)
    await _fill(store, KEYS.home, ACTIVE_LIMIT + 2)
    assert len(await store.active()) == ACTIVE_LIMIT + 2
