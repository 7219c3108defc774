"""The page tests' headless Chromium (tests.schemas.ui's fixtures: one browser for this package, a page per test),
the router serving `/ui/sagas` on the test's Redis, and a demo run whose sagas the pages show."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from router.app import create_app
from router.settings import Settings
from tests.router.conftest import ServerThread
from tests.sagas.test_demo_command import switchboard
from tests.schemas.ui.conftest import chromium, page  # noqa: F401 - fixtures re-exported for this package


@pytest.fixture
def demo(redis_url: str) -> dict[str, Any]:
    """`switchboard demo order-to-cash` on the test's Redis (its instances stay there): the summary it printed."""
    done = switchboard(redis_url, "demo", "order-to-cash", "--orders", "12", "--seed", "9", "--faults", "0.6")
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


@pytest.fixture
def sagas_server(redis_url: str) -> Iterator[ServerThread]:
    """The router (every installed extension: the sagas' pages among them); it runs no saga."""
    server = ServerThread(create_app(Settings(redis_url=redis_url)))
    server.start()
    yield server
    server.stop()
