"""One headless Chromium for the page tests (Playwright's sync API), and a fresh page per test.

The browser lives for this package's tests only (`scope="package"`): Playwright's sync API runs an event loop in
the main thread while it is open, which the suite's asyncio tests cannot share, so it is closed before they run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import VIEWPORT, launch_chromium


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()
