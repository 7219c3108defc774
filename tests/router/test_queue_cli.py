"""`switchboard queue read` and `queue tail` against the real redis-server, as a subprocess."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from router.keys import Keys
from tests.conftest import run_cli, sync_client
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration


def _run(
    redis_url: str | None, *args: str, timeout: float = 20, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(redis_url, "queue", *args, timeout=timeout, cwd=cwd)


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


def _tail_blocked(client: Any, key: str = Keys().queue("jobs")) -> bool | None:
    """Whether the `queue tail` process's connection is blocked in XREAD (None: it has not sent one yet)."""
    if isinstance(client, redis.RedisCluster):  # the node that holds the queue
        listed: Any = client.client_list(target_nodes=client.get_node_from_key(key))
    else:
        listed = client.client_list()
    readers = [c for c in listed if c.get("cmd") == "xread"]
    return None if not readers else "b" in readers[0]["flags"]


def _read_line(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> bytes:
    """One line of the process's unbuffered stdout; fails (never hangs) when none comes within the deadline."""
    assert proc.stdout is not None
    fd, line = proc.stdout.fileno(), b""
    deadline = time.monotonic() + timeout_s
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no line within {timeout_s} s (read so far: {line!r})"
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, 1)
            assert chunk, f"queue tail exited with {proc.wait()} (read so far: {line!r})"
            line += chunk
    return line


def test_queue_tail_prints_new_messages_and_read_needs_redis_url(redis_url: str) -> None:
    client = sync_client(redis_url)
    key = Keys().queue("jobs")
    client.xadd(key, {"delivery_id": "old", "body": b"[0]", "sent_ms": "1"})  # before the tail: not printed
    env = {**os.environ, "REDIS_URL": redis_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "router.cli", "queue", "tail", "jobs"], env=env, stdout=subprocess.PIPE, bufsize=0
    )
    try:
        # A message appended while the tail is between two reads (its blocking XREAD timed out, the next one is
        # not sent yet) is printed: the process is frozen until Redis has ended its blocked read.
        eventually_sync(lambda: _tail_blocked(client), timeout_s=20, what="queue tail blocking on XREAD")
        proc.send_signal(signal.SIGSTOP)
        try:
            eventually_sync(lambda: _tail_blocked(client) is False, what="the blocked XREAD to time out")
            client.xadd(key, {"delivery_id": "d1", "body": b"[1]", "sent_ms": "1"})
        finally:
            proc.send_signal(signal.SIGCONT)
        assert orjson.loads(_read_line(proc))["body"] == [1]  # the first line: "[0]" came before the tail started

        # And one appended while the tail is blocked in XREAD.
        eventually_sync(lambda: _tail_blocked(client), what="queue tail blocking again")
        client.xadd(key, {"delivery_id": "d2", "body": b"[2]", "sent_ms": "2"})
        assert orjson.loads(_read_line(proc))["body"] == [2]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    missing = _run(None, "read", "orders")
    assert missing.returncode == 6
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
    assert stale.returncode == 6
    assert "no Redis to read from" in stale.stderr


def test_queue_read_and_tail_take_the_queues_namespace(redis_url: str) -> None:
    """`--account`/`--region` read that namespace's queue (key-layout name ACCOUNT@REGION@NAME, router.keys); the
    same name in the home namespace is another queue, and a missing queue lists only its namespace's queues."""
    client = sync_client(redis_url)
    keys = Keys()
    client.xadd(keys.queue("orders"), {"delivery_id": "home", "body": b"{}", "sent_ms": "1"})
    client.xadd(keys.queue("111122223333@us-west-1@orders"), {"delivery_id": "west", "body": b"{}", "sent_ms": "2"})
    client.xadd(keys.queue("111122223333@us-west-1@payments"), {"delivery_id": "p", "body": b"{}", "sent_ms": "3"})
    client.close()
    west = ("--account", "111122223333", "--region", "us-west-1")
    done = _run(redis_url, "read", "orders", *west)
    assert done.returncode == 0, done.stderr
    assert [orjson.loads(line)["delivery_id"] for line in done.stdout.splitlines()] == ["west"]
    home = _run(redis_url, "read", "orders")
    assert [orjson.loads(line)["delivery_id"] for line in home.stdout.splitlines()] == ["home"]
    missing = _run(redis_url, "read", "order", *west)
    assert (missing.returncode, missing.stdout) == (9, "")
    assert missing.stderr.splitlines()[1] == (
        "switchboard: queue order of account 111122223333 in us-west-1 does not exist in that Redis: nothing was "
        "delivered to it yet (queues there: orders, payments)"
    )
    home_missing = _run(redis_url, "read", "order")
    assert home_missing.stderr.splitlines()[1].endswith("(queues there: orders)")  # not the other namespace's
    refused = _run(redis_url, "tail", "orders", "--account", "1")
    assert refused.returncode == 2
    assert "'1' is not an account id (12 digits, such as 111122223333)" in refused.stderr

    command = [sys.executable, "-m", "router.cli", "queue", "tail", "orders", "--from-start", *west]
    env = {**os.environ, "REDIS_URL": redis_url}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, bufsize=0)
    client = sync_client(redis_url)
    try:
        assert orjson.loads(_read_line(proc))["delivery_id"] == "west"
        client.xadd(keys.queue("orders"), {"delivery_id": "home-2", "body": b"{}", "sent_ms": "4"})
        client.xadd(
            keys.queue("111122223333@us-west-1@orders"), {"delivery_id": "west-2", "body": b"{}", "sent_ms": "5"}
        )
        assert orjson.loads(_read_line(proc))["delivery_id"] == "west-2"  # the home queue's message is not printed
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        client.close()


def test_queue_read_of_an_unknown_queue_says_so_and_exits_9(redis_url: str) -> None:
    client = sync_client(redis_url)
    client.xadd(Keys().queue("orders"), {"delivery_id": "d", "body": b"{}", "sent_ms": "1"})
    client.xadd(Keys().queue("payments"), {"delivery_id": "d", "body": b"{}", "sent_ms": "1"})
    done = _run(redis_url, "read", "order")
    assert (done.returncode, done.stdout) == (9, "")
    assert done.stderr.splitlines() == [
        f"switchboard: reading the Redis at {redis_url} (REDIS_URL)",
        "switchboard: queue order does not exist in that Redis: nothing was delivered to it yet (queues there: "
        "orders, payments)",
    ]
    client.close()


def test_queue_commands_name_the_redis_they_read(redis_url: str, tmp_path: Path) -> None:
    client = sync_client(redis_url)
    client.xadd(Keys().queue("orders"), {"delivery_id": "d", "body": b"{}", "sent_ms": "1"})
    data = tmp_path / ".switchboard" / "redis"
    data.mkdir(parents=True)
    (data / "redis.url").write_text(redis_url + "\n")
    done = _run(None, "read", "orders", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"switchboard: reading the Redis at {redis_url} (the embedded redis-server of the switchboard serve in this "
        "directory, from .switchboard/redis/redis.url)"
    ]
    client.close()
