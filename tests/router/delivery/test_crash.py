"""At least once across a crash: kill -9 a `switchboard serve` process in the middle of a backlog of 10,000
deliveries (2,000 events to five queue targets), restart it, and every delivery arrives: the delivery ids that arrive
are exactly those of the accepted events, and only a delivery the killed process held unsettled may arrive twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from router.delivery.jobs import delivery_id, event_id_of
from router.envelope import build_envelope
from router.keys import INGEST_GROUP, Keys
from tests.conftest import free_port, sync_client
from tests.waiting import eventually_sync

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


def _delivered(client: Any) -> Counter[str]:
    """How many times each delivery id arrived, over every queue."""
    arrived: Counter[str] = Counter()
    for queue in QUEUES:
        entries: Any = client.xrange(KEYS.queue(queue))
        arrived.update(fields[b"delivery_id"].decode() for _, fields in entries)
    return arrived


def _in_flight_at_kill(client: Any) -> set[str]:
    """The delivery ids the killed process held unsettled: its unacknowledged ingest entries (queue targets are
    delivered inline, before the acknowledgement) and its unsettled delivery jobs. Only these may arrive twice."""
    held: set[str] = set()
    stream = KEYS.ingest("default")
    for pending in client.xpending_range(stream, INGEST_GROUP, "-", "+", EVENTS):
        entry_id = pending["message_id"]
        entry: Any = client.xrange(stream, entry_id, entry_id)
        event_id = event_id_of(entry[0][1][b"event"])
        held.update(delivery_id(event_id, "fanout", q) for q in QUEUES)
    for q in QUEUES:
        jobs = KEYS.deliveries("default", "fanout", q)
        if not client.exists(jobs):
            continue
        for group in client.xinfo_groups(jobs):
            for pending in client.xpending_range(jobs, group["name"], "-", "+", EVENTS):
                entry_id = pending["message_id"]
                job: Any = client.xrange(jobs, entry_id, entry_id)
                held.update(fields[b"id"].decode() for _, fields in job)
    return held


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
    expected: set[str] = set()
    pipe = client.pipeline(transaction=False)
    for n in range(EVENTS):
        event_id, envelope = build_envelope(
            {"Source": "load", "DetailType": "n", "Detail": orjson.dumps({"n": n}).decode()},
            account="123456789012",
            region="us-east-1",
            now_s=time.time(),
        )
        expected.update(delivery_id(event_id, "fanout", q) for q in QUEUES)
        pipe.xadd(KEYS.ingest("default"), {"event": envelope})
    pipe.execute()

    def frozen_mid_backlog() -> set[str]:
        """SIGSTOP the process; what it holds unsettled if it has delivered something (else thaw it: empty)."""
        first.proc.send_signal(signal.SIGSTOP)
        held = _in_flight_at_kill(client) if sum(_delivered(client).values()) > 0 else set()
        if not held:
            first.proc.send_signal(signal.SIGCONT)
        return held

    # Kill it -9 while frozen mid-batch: deliveries made, the batch not settled (so the recovery path must run).
    in_flight = eventually_sync(frozen_mid_backlog, timeout_s=30, interval_s=0.002, what="a delivery in flight")
    first.kill()
    at_kill = sum(_delivered(client).values())
    assert 0 < at_kill < EVENTS * len(QUEUES), at_kill  # killed in the middle of the backlog
    assert _in_flight_at_kill(client) == in_flight

    second = Serve(redis_url, tmp_path)
    processes.append(second)

    def ingest_backlog() -> dict[bytes, tuple[int, int]]:
        return {g["name"]: (g["pending"], g["lag"]) for g in client.xinfo_groups(KEYS.ingest("default"))}

    # The killed consumer's entries are claimed once idle for claim_min_idle_ms (5 s), then acknowledged; queue
    # deliveries are made before the acknowledgement, and any that could not be made wait as jobs.
    eventually_sync(
        lambda: ingest_backlog() == {INGEST_GROUP.encode(): (0, 0)}, timeout_s=60, what="every event acknowledged"
    )
    jobs = [KEYS.deliveries("default", "fanout", q) for q in QUEUES]
    eventually_sync(lambda: all(client.xlen(j) == 0 for j in jobs), timeout_s=30, what="every job settled")
    second.stop()
    arrived = _delivered(client)
    assert set(arrived) == expected  # every delivery of every accepted event, and nothing else
    duplicated = {did for did, times in arrived.items() if times > 1}
    assert duplicated <= in_flight  # only what the killed process held unsettled may arrive twice ...
    assert max(arrived.values()) <= 2  # ... and at most once more
    client.close()
