"""`switchboard queue read` and `queue tail` against the real redis-server, as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from router.keys import Keys
from tests.conftest import sync_client

pytestmark = pytest.mark.integration


def _run(
    redis_url: str | None, *args: str, timeout: float = 20, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    if redis_url:
        env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "router.cli", "queue", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def test_queue_read_prints_messages_as_json_lines(redis_url: str) -> None:
    client = sync_client(redis_url)
    key = Keys().queue("orders")
    first: Any = client.xadd(key, {"delivery_id": "e:r:t", "body": b'{"a":1}', "sent_ms": "5"})
    client.xadd(key, {"delivery_id": "e2:r:t", "body": b"plain", "sent_ms": "6", "attributes": b'{"RULE_ARN":"x"}'})
    done = _run(redis_url, "read", "orders")
    assert done.returncode == 0, done.stderr
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert lines[0] == {"id": first.decode(), "delivery_id": "e:r:t", "body": {"a": 1}, "sent_ms": "5"}
    assert lines[1]["body"] == "plain"
    assert lines[1]["attributes"] == {"RULE_ARN": "x"}
    after = _run(redis_url, "read", "orders", "--after", first.decode())
    assert len(after.stdout.splitlines()) == 1
    client.close()


def test_queue_tail_prints_new_messages_and_read_needs_redis_url(redis_url: str) -> None:
    client = sync_client(redis_url)
    env = {**os.environ, "REDIS_URL": redis_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "router.cli", "queue", "tail", "jobs"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.5)  # let it start blocking on XREAD $
        client.xadd(Keys().queue("jobs"), {"delivery_id": "d", "body": b"[1]", "sent_ms": "1"})
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert orjson.loads(line)["body"] == [1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    missing = _run(None, "read", "orders")
    assert missing.returncode == 1
    assert "set REDIS_URL" in missing.stderr
    client.close()


def test_queue_read_finds_the_embedded_redis_of_a_serve_in_this_directory(redis_url: str, tmp_path: Path) -> None:
    """Without REDIS_URL, the URL file `switchboard serve` writes next to its embedded Redis is used."""
    client = sync_client(redis_url)
    client.xadd(Keys().queue("orders"), {"delivery_id": "e1:r:t", "body": b'{"n": 1}', "sent_ms": "1"})
    data = tmp_path / ".switchboard" / "redis"
    data.mkdir(parents=True)
    (data / "redis.url").write_text(redis_url + "\n")
    found = _run(None, "read", "orders", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert orjson.loads(found.stdout.splitlines()[0])["body"] == {"n": 1}
    client.close()


def test_queue_read_ignores_a_stale_url_file(tmp_path: Path) -> None:
    data = tmp_path / ".switchboard" / "redis"
    data.mkdir(parents=True)
    (data / "redis.url").write_text("redis://127.0.0.1:1/0\n")  # nothing listens on port 1
    stale = _run(None, "read", "orders", cwd=tmp_path)
    assert stale.returncode == 1
    assert "no Redis to read from" in stale.stderr
