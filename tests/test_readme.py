"""The README's quick start works verbatim in a fresh shell, against the server `make run` starts.

The server is `make run`'s command (read from the Makefile's `run` recipe) in a scratch directory holding the
repository's `config/` and a link to its `.venv`, on the embedded Redis; only the port differs (a free one instead
of 4010, substituted in the README's commands). The README's shell block runs in bash with a fresh shell's
environment: no AWS configuration, no credentials, nothing on PATH beyond the system's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import free_port
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent


def make_run_command() -> list[str]:
    """The command of the Makefile's `run` recipe that starts the server, with $(BIN) as `.venv/bin`."""
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.M)
    assert recipe is not None
    (line,) = [line for line in recipe.group(1).splitlines() if "switchboard serve" in line]
    return shlex.split(line.strip().replace("$(BIN)", ".venv/bin"))


def quick_start_block() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the quick start has one shell block"
    return str(blocks[0])


def fresh_shell(home: Path) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def test_readme_quick_start_runs_verbatim_against_make_runs_server(tmp_path: Path) -> None:
    assert make_run_command() == [".venv/bin/switchboard", "serve", "--config", "config"]
    shutil.copytree(REPO / "config", tmp_path / "config")
    (tmp_path / ".venv").symlink_to(VENV)
    (tmp_path / "home").mkdir()
    port = free_port()
    env = {**fresh_shell(tmp_path / "home"), "SWITCHBOARD_PORT": str(port)}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(make_run_command(), cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        eventually_sync(lambda: _healthy(port) or server.poll() is not None, 30, what="make run's server")
        assert server.poll() is None, (tmp_path / "serve.log").read_text()

        script = quick_start_block().replace("4010", str(port))
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=fresh_shell(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        out = done.stdout
        assert "failed entries: 0" in out, done.stderr
        rules = orjson.loads(_json_doc(out))
        assert sorted(rule["Name"] for rule in rules["Rules"]) == [
            "big-orders",
            "large-order",
            "order-placed",
            "payment-failed",
        ]

        # The last line, as the user would run it again if the delivery had not landed yet.
        read = script.strip().splitlines()[-1]
        assert read == ".venv/bin/switchboard queue read big-orders"
        messages: list[dict[str, object]] = []

        def delivered() -> bool:
            again = subprocess.run(
                ["bash", "-c", read],
                cwd=tmp_path,
                env=fresh_shell(tmp_path / "home"),
                capture_output=True,
                text=True,
                check=False,
            )
            messages[:] = [orjson.loads(line) for line in again.stdout.splitlines()]
            return bool(messages)

        eventually_sync(delivered, 15, interval_s=0.2, what="the event in queue big-orders")
        (message,) = messages
        event = message["body"]
        assert isinstance(event, dict)
        assert (event["source"], event["detail-type"], event["detail"]) == ("shop", "OrderPlaced", {"total": 250})
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        log.close()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _json_doc(out: str) -> str:
    """The aws CLI's JSON document in the block's output (it starts at the line that is just `{`)."""
    lines = out.splitlines()
    start = lines.index("{")
    end = start + lines[start:].index("}")
    return "\n".join(lines[start : end + 1])


def test_readme_names_no_file_outside_the_repository() -> None:
    readme = (REPO / "README.md").read_text()
    for link in re.findall(r"\]\(([^)#]+)", readme):
        if not link.startswith("http"):
            assert (REPO / link).exists(), f"README links to {link}, which does not exist"
    assert os.path.exists(REPO / "CONTRIBUTING.md")
