"""Archives declared in config files: created, updated to match, removed when dropped, idempotent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from archive import ArchiveOptions, extension
from router.app import create_app
from router.config import ConfigApplyError, ConfigError, apply, load_text
from router.protocol import Dispatcher
from tests.router.conftest import Api, make_settings

pytestmark = pytest.mark.integration

FILE = """
buses:
  - name: orders
archives:
  - name: paid
    bus: orders
    pattern: {source: [shop], detail: {kind: [paid]}}
    retention_days: 30
    description: paid orders
  - name: everything
"""


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    app = create_app(make_settings(redis_url), extensions=[extension(ArchiveOptions())])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as client:
            yield Api(client, app)


def _dispatcher(api: Api) -> Dispatcher:
    d: Dispatcher = api.app.state.dispatcher
    return d


async def _archives(api: Api) -> dict[str, dict[str, Any]]:
    listed = await api.ok("ListArchives", {})
    names = [a["ArchiveName"] for a in listed["Archives"]]
    return {name: await api.ok("DescribeArchive", {"ArchiveName": name}) for name in names}


async def test_config_archives_are_applied_idempotently(api: Api) -> None:
    report = await apply(load_text("a.yaml", FILE), _dispatcher(api))
    assert {"archive paid", "archive everything"} <= set(report.created)
    archives = await _archives(api)
    paid = archives["paid"]
    assert paid["EventSourceArn"].endswith(":event-bus/orders")
    assert paid["EventPattern"] == '{"source":["shop"],"detail":{"kind":["paid"]}}'
    assert (paid["RetentionDays"], paid["Description"]) == (30, "paid orders")
    assert archives["everything"]["EventSourceArn"].endswith(":event-bus/default")
    assert "EventPattern" not in archives["everything"]

    again = await apply(load_text("a.yaml", FILE), _dispatcher(api))
    assert not again.changed
    assert {"archive paid", "archive everything"} <= set(again.unchanged)

    changed = FILE.replace("retention_days: 30", "retention_days: 7").replace("    description: paid orders\n", "")
    updated = await apply(load_text("a.yaml", changed), _dispatcher(api))
    assert updated.updated == ("archive paid",)
    paid = (await _archives(api))["paid"]
    assert paid["RetentionDays"] == 7
    assert "Description" not in paid or paid["Description"] == ""

    dropped = changed.replace("  - name: everything\n", "")
    removed = await apply(load_text("a.yaml", dropped), _dispatcher(api))
    assert removed.deleted == ("archive everything",)
    assert set(await _archives(api)) == {"paid"}
    # dropping the bus drops its archive first (the archive's managed rule would keep the bus)
    gone = await apply(load_text("a.yaml", "buses: []\n"), _dispatcher(api))
    assert set(gone.deleted) == {"archive paid", "bus orders"}
    assert await _archives(api) == {}


async def test_an_archive_created_over_the_api_is_kept_and_its_bus_cannot_change(api: Api) -> None:
    await api.ok("CreateEventBus", {"Name": "other"})
    arn = "arn:aws:events:us-east-1:123456789012:event-bus/other"
    await api.ok("CreateArchive", {"ArchiveName": "mine", "EventSourceArn": arn})
    text = "archives:\n  - name: mine\n    bus: default\n"
    with pytest.raises(ConfigApplyError, match="an archive's bus cannot change"):
        await apply(load_text("b.yaml", text), _dispatcher(api))
    await apply(load_text("b.yaml", "archives: []\n"), _dispatcher(api))
    assert set(await _archives(api)) == {"mine"}  # not config's: never deleted by config


def test_config_archive_problems_are_reported_with_their_path() -> None:
    text = (
        "archives:\n  - name: a\n    retention_days: -1\n  - name: a\n  - {bus: x}\n"
        "  - name: b\n    pattern: {source: x}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_text("c.yaml", text)
    lines = [str(problem) for problem in caught.value.problems]
    assert any(line.startswith("c.yaml: archives[0].retention_days") for line in lines), lines
    assert any(line.startswith("c.yaml: archives[2]") and "name" in line for line in lines), lines
