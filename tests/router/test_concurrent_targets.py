"""The five-targets-per-rule limit holds under concurrent PutTargets calls: two `switchboard serve` processes on one
Redis, many threads released at once by a barrier, each call adding targets the rule does not have yet. Exactly as
many targets as the limit allows are stored, every other call is refused with AWS's LimitExceededException, and a
call is all or nothing (its targets are stored together or not at all)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from router.keys import Keys
from tests.router._serve import ServeProcess, serving

pytestmark = pytest.mark.integration

KEYS = Keys()
LIMIT = {"__type": "LimitExceededException", "message": "The requested resource exceeds the maximum number allowed."}
CALLS = 24


@pytest.fixture
def routers(tmp_path: Path, redis_url: str) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    with serving(tmp_path, redis_url) as (first, second):
        yield first, second


def _target(target_id: str) -> dict[str, str]:
    return {"Id": target_id, "Arn": f"arn:aws:sqs:us-east-1:123456789012:{target_id}"}


def _race(routers: tuple[ServeProcess, ServeProcess], rule: str, calls: list[list[str]]) -> list[tuple[int, Any]]:
    """Send every call at once (half through each process); (status, body) of each, in call order."""
    barrier = threading.Barrier(len(calls))

    def call(index: int) -> tuple[int, Any]:
        body = {"Rule": rule, "Targets": [_target(t) for t in calls[index]]}
        with httpx.Client(timeout=20) as client:
            barrier.wait(timeout=20)
            response = routers[index % 2].call(client, "PutTargets", body)
        return response.status_code, response.json()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(call, range(len(calls))))


def _stored(redis_url: str, rule: str) -> set[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        raw: Any = client.hgetall(KEYS.targets("default", rule))
        assert all(orjson.loads(v)["Id"] == k.decode() for k, v in raw.items())
        return {k.decode() for k in raw}
    finally:
        client.close()


def _put_rule(router: ServeProcess, rule: str) -> None:
    with httpx.Client(timeout=10) as client:
        response = router.call(client, "PutRule", {"Name": rule, "EventPattern": '{"source": ["t"]}'})
        assert response.status_code == 200, response.text


def test_concurrent_put_targets_never_pass_five_and_each_call_is_all_or_nothing(
    routers: tuple[ServeProcess, ServeProcess], redis_url: str
) -> None:
    _put_rule(routers[0], "single")
    calls = [[f"t{i}"] for i in range(CALLS)]
    results = _race(routers, "single", calls)
    accepted = {calls[i][0] for i, (status, _) in enumerate(results) if status == 200}
    assert len(accepted) == 5
    assert [(status, body) for status, body in results if status != 200] == [(400, LIMIT)] * (CALLS - 5)
    assert all(body == {"FailedEntryCount": 0, "FailedEntries": []} for status, body in results if status == 200)
    assert _stored(redis_url, "single") == accepted

    # Pairs of new targets: two calls fit (four targets), a third would make six; no call is stored in part.
    _put_rule(routers[1], "pairs")
    pairs = [[f"a{i}", f"b{i}"] for i in range(CALLS)]
    results = _race(routers, "pairs", pairs)
    accepted_pairs = [pairs[i] for i, (status, _) in enumerate(results) if status == 200]
    assert len(accepted_pairs) == 2
    assert [(status, body) for status, body in results if status != 200] == [(400, LIMIT)] * (CALLS - 2)
    assert _stored(redis_url, "pairs") == {t for pair in accepted_pairs for t in pair}
