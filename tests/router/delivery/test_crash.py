"""At least once across a crash: kill -9 a `switchboard serve` process in the middle of a backlog of 10,000
deliveries (2,000 events to five queue targets), restart it, and every delivery arrives (counted by delivery id;
duplicates are allowed, losses are not)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from router.envelope import build_envelope
from router.keys import Keys
from tests.conftest import free_port, sync_client

pytestmark = pytest.mark.integration

KEYS = Keys()
EVENTS = 2_000
QUEUES = [f"q{i}" for i in range(5)]


class Serve:
    """`switchboard serve` as a child process on 127.0.0.1."""

    def __init__(self, redis_url: str, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "SWITCHBOARD_PORT": str(self.port),
            "SWITCHBOARD_DATA_DIR": str(data_dir),
            "SWITCHBOARD_DELIVERY_VISIBILITY_TIMEOUT_S": "2",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "router.cli", "serve", "--log-level", "warning"],
            env=env,
            cwd=data_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("switchboard serve did not start")
            time.sleep(0.05)

    def call(self, operation: str, body: dict[str, object]) -> None:
        headers = {"X-Amz-Target": f"AWSEvents.{operation}", "Content-Type": "application/x-amz-json-1.1"}
        response = httpx.post(self.url, content=orjson.dumps(body), headers=headers, timeout=10)
        assert response.status_code == 200, response.text

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def processes() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for process in started:
        process.stop()


def _delivered(client: Any) -> tuple[int, set[bytes]]:
    total, ids = 0, set()
    for queue in QUEUES:
        entries: Any = client.xrange(KEYS.queue(queue))
        for _, fields in entries:
            total += 1
            ids.add(fields[b"delivery_id"])
    return total, ids


def test_kill_9_mid_backlog_then_restart_delivers_everything(
    redis_url: str, tmp_path: Path, processes: list[Serve]
) -> None:
    client = sync_client(redis_url)
    first = Serve(redis_url, tmp_path)
    processes.append(first)
    first.call("PutRule", {"Name": "fanout", "EventPattern": '{"source": ["load"]}'})
    targets = [{"Id": q, "Arn": f"arn:aws:sqs:us-east-1:123456789012:{q}"} for q in QUEUES]
    first.call("PutTargets", {"Rule": "fanout", "Targets": targets})

    # The backlog: 2,000 accepted events appended to the ingest log at once (what PutEvents writes).
    pipe = client.pipeline(transaction=False)
    for n in range(EVENTS):
        _, envelope = build_envelope(
            {"Source": "load", "DetailType": "n", "Detail": orjson.dumps({"n": n}).decode()},
            account="123456789012",
            region="us-east-1",
            now_s=time.time(),
        )
        pipe.xadd(KEYS.ingest("default"), {"event": envelope})
    pipe.execute()

    deadline = time.monotonic() + 30
    while sum(int(client.xlen(KEYS.queue(q))) for q in QUEUES) == 0:
        assert time.monotonic() < deadline, "no delivery started"
        time.sleep(0.002)
    first.kill()
    at_kill, _ = _delivered(client)
    assert 0 < at_kill < EVENTS * len(QUEUES), at_kill  # killed in the middle of the backlog

    second = Serve(redis_url, tmp_path)
    processes.append(second)
    deadline = time.monotonic() + 90
    while True:
        total, ids = _delivered(client)
        if len(ids) == EVENTS * len(QUEUES):
            break
        assert time.monotonic() < deadline, f"only {len(ids)} of {EVENTS * len(QUEUES)} deliveries arrived"
        time.sleep(0.2)
    assert total >= len(ids)  # duplicates allowed, losses not
    second.stop()
    for q in QUEUES:
        assert client.xlen(KEYS.deliveries("default", "fanout", q)) == 0  # every job settled
    client.close()
