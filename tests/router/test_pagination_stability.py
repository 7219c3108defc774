"""Pages stay stable while items are created and deleted between them (router/api/_control.py pages by name).

For every paged list operation: page through with a small Limit and, between pages, delete an item not read yet,
create one right after the last name read, and (where the limit allows) one before every name and one after. The
names read must rise strictly (so nothing is repeated), every item that existed throughout is read exactly once, and
no deleted item is read. Items created meanwhile may or may not be read, as on AWS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.router.conftest import Api
from tests.router.control_plane import PATTERN, control_api, target

pytestmark = pytest.mark.integration

STABLE = ["b", "d", "f", "h", "j"]
"""Exist from the first page to the last."""
DOOMED = ["c", "e", "g", "i"]
"""Exist at the first page; after each page, the first one not read yet is deleted."""
TARGET_ARN = "arn:aws:sqs:us-east-1:123456789012:shared"


@dataclass(frozen=True)
class Listing:
    operation: str
    body: dict[str, Any]
    field: str
    name: Callable[[Any], str]
    create: Callable[[Api, str], Awaitable[None]]
    delete: Callable[[Api, str], Awaitable[None]]
    capacity: int | None = None
    """How many items may exist at once (five targets per rule), None: no limit that matters here."""
    also_listed: tuple[str, ...] = ()
    """Items the operation lists that the test did not make (the default bus)."""


async def _put_rule(api: Api, name: str) -> None:
    await api.ok("PutRule", {"Name": f"p-{name}", "EventPattern": PATTERN})


async def _delete_rule(api: Api, name: str) -> None:
    await api.ok("DeleteRule", {"Name": f"p-{name}"})


async def _bus(api: Api, name: str) -> None:
    await api.ok("CreateEventBus", {"Name": f"p-{name}"})


async def _delete_bus(api: Api, name: str) -> None:
    await api.ok("DeleteEventBus", {"Name": f"p-{name}"})


async def _target(api: Api, name: str) -> None:
    await api.ok("PutTargets", {"Rule": "r", "Targets": [target(f"p-{name}")]})


async def _remove_target(api: Api, name: str) -> None:
    await api.ok("RemoveTargets", {"Rule": "r", "Ids": [f"p-{name}"]})


async def _connection(api: Api, name: str) -> None:
    auth = {"ApiKeyAuthParameters": {"ApiKeyName": "X-Key", "ApiKeyValue": "secret"}}
    await api.ok("CreateConnection", {"Name": f"p-{name}", "AuthorizationType": "API_KEY", "AuthParameters": auth})


async def _delete_connection(api: Api, name: str) -> None:
    await api.ok("DeleteConnection", {"Name": f"p-{name}"})


async def _destination(api: Api, name: str) -> None:
    connection = await api.ok("DescribeConnection", {"Name": "shared"})
    body = {
        "Name": f"p-{name}",
        "ConnectionArn": connection["ConnectionArn"],
        "InvocationEndpoint": "https://example.com/hook",
        "HttpMethod": "POST",
    }
    await api.ok("CreateApiDestination", body)


async def _delete_destination(api: Api, name: str) -> None:
    await api.ok("DeleteApiDestination", {"Name": f"p-{name}"})


async def _targeting_rule(api: Api, name: str) -> None:
    await _put_rule(api, name)
    await api.ok("PutTargets", {"Rule": f"p-{name}", "Targets": [{"Id": "t", "Arn": TARGET_ARN}]})


async def _delete_targeting_rule(api: Api, name: str) -> None:
    await api.ok("RemoveTargets", {"Rule": f"p-{name}", "Ids": ["t"]})
    await _delete_rule(api, name)


def _named(item: Any) -> str:
    return str(item["Name"])


LISTINGS = [
    Listing("ListRules", {}, "Rules", _named, _put_rule, _delete_rule),
    Listing("ListEventBuses", {}, "EventBuses", _named, _bus, _delete_bus, also_listed=("default",)),
    Listing("ListTargetsByRule", {"Rule": "r"}, "Targets", lambda t: str(t["Id"]), _target, _remove_target, 5),
    Listing("ListConnections", {}, "Connections", _named, _connection, _delete_connection, also_listed=("shared",)),
    Listing("ListApiDestinations", {}, "ApiDestinations", _named, _destination, _delete_destination),
    Listing(
        "ListRuleNamesByTarget", {"TargetArn": TARGET_ARN}, "RuleNames", str, _targeting_rule, _delete_targeting_rule
    ),
]


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    async with control_api(redis_url) as client:
        await client.ok("PutRule", {"Name": "r", "EventPattern": PATTERN})
        auth = {"ApiKeyAuthParameters": {"ApiKeyName": "X-Key", "ApiKeyValue": "secret"}}
        await client.ok("CreateConnection", {"Name": "shared", "AuthorizationType": "API_KEY", "AuthParameters": auth})
        yield client


@pytest.mark.parametrize("listing", LISTINGS, ids=[listing.operation for listing in LISTINGS])
async def test_items_that_exist_throughout_are_read_once_while_others_come_and_go(api: Api, listing: Listing) -> None:
    limited = listing.capacity is not None
    stable, extras = (STABLE[:3], DOOMED[:2]) if limited else (STABLE, list(DOOMED))
    for name in sorted(stable + extras):
        await listing.create(api, name)
    limit = 1 if limited else 2
    read: list[str] = []
    deleted_unread: set[str] = set()
    token: str | None = None
    for step in range(30):
        body = {**listing.body, "Limit": limit, **({"NextToken": token} if token else {})}
        page = await api.ok(listing.operation, body)
        names = [listing.name(item) for item in page[listing.field]]
        assert len(names) <= limit
        read += names
        token = page.get("NextToken")
        if token is None:
            break
        # Churn before the next page: an item that is not there throughout goes (one already read and one not yet
        # read, in turn), and new ones appear: before every name, right after the cursor, after every name (where
        # the five-targets limit lets only one appear, in turn).
        cursor = read[-1].removeprefix("p-")
        before, after = [x for x in extras if f"p-{x}" < read[-1]], [x for x in extras if f"p-{x}" > read[-1]]
        victim = (before if step % 2 == 0 else after) or before or after
        if victim:
            extras.remove(victim[0])
            await listing.delete(api, victim[0])
            if f"p-{victim[0]}" > read[-1]:
                deleted_unread.add(f"p-{victim[0]}")
        created = [f"a{step:02d}", f"{cursor[:1]}x{step:02d}", f"z{step:02d}"]
        for name in [created[step % 3]] if limited else created:
            extras.append(name)
            await listing.create(api, name)
    else:
        raise AssertionError(f"{listing.operation} did not end within 30 pages: {read}")
    assert read == sorted(set(read)), read  # rising: nothing repeated, nothing out of order
    throughout = sorted([*listing.also_listed, *(f"p-{name}" for name in stable)])
    assert [name for name in read if name in throughout] == throughout  # each exactly once
    assert deleted_unread, "no item was deleted ahead of the cursor"
    assert not set(read) & deleted_unread  # an item deleted before its page was read is not on it
