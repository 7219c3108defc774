"""The docs say what the code does: every setting, exit code and metric is documented, and nothing documented is
gone. (Exit codes: tests/router/test_startup.py; the README quick start: tests/test_readme.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from router.settings import setting_variables
from tests.router._serve import ServeProcess

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TEST_VARIABLES = {"SWITCHBOARD_SCREENSHOTS_DIR"}
"""Variables the test suite reads (tests/browser.py), documented for contributors; not settings of the router."""
METRIC_DOCS = [REPO / "docs" / "operations.md", REPO / "docs" / "delivery.md"]


def _text(paths: list[Path]) -> str:
    return "\n".join(path.read_text() for path in paths)


def test_every_setting_is_documented() -> None:
    text = _text(DOCS)
    missing = sorted(name for name in setting_variables() if name not in text)
    assert missing == [], f"settings read by router.settings but named in no doc page: {missing}"


def test_every_documented_switchboard_variable_is_a_setting() -> None:
    documented = set(re.findall(r"\bSWITCHBOARD_[A-Z_]+[A-Z]\b", _text(DOCS)))
    prefixes = {name for name in documented if name.endswith("_")}  # e.g. SWITCHBOARD_QUOTA_<NAME>
    stale = sorted(documented - prefixes - setting_variables() - TEST_VARIABLES)
    assert stale == [], f"doc pages name variables no setting reads: {stale}"


@pytest.mark.integration
def test_the_metrics_docs_list_exactly_what_metrics_exposes(tmp_path: Path, redis_url: str) -> None:
    server = ServeProcess(tmp_path, redis_url).wait_ready()
    try:
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
    finally:
        server.stop()
    exposed = set(re.findall(r"^# TYPE (switchboard_\w+) ", text, re.M))
    documented = set(re.findall(r"\bswitchboard_[a-z_]+[a-z]\b", _text(METRIC_DOCS)))
    assert sorted(exposed - documented) == [], "exposed on /metrics but not in docs/operations.md or docs/delivery.md"
    assert sorted(documented - exposed) == [], "documented but not exposed (names as exposed: counters end in _total)"
