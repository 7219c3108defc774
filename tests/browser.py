"""Headless Chromium for page tests: Debian's system browser driven by Playwright (no browser download).

`launch_chromium` starts `/usr/bin/chromium` with the flags this machine needs; a missing browser fails the test
with a message saying how to install it (it is never skipped). `make test` installs it (apt, as root).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
"""A laptop screen."""


def launch_chromium(playwright: Any) -> Any:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run `make test` as root (it installs Debian's chromium "
            "package) or `sudo apt-get install chromium`. Page tests need a real browser and are never skipped."
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    """Save a screenshot under tmp_path, and under $SWITCHBOARD_SCREENSHOTS_DIR when set (to refresh docs/)."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{name}: the screenshot is blank"
    target = os.environ.get("SWITCHBOARD_SCREENSHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=False)
    return path
