"""`switchboard serve` as a real child process for tests, plus helpers to read its /metrics.

Every process started here is stopped by the fixture or test that started it (`stop()` in a `finally`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.waiting import eventually_sync

SWITCHBOARD = Path(sys.executable).parent / "switchboard"


class ServeProcess:
    """`switchboard serve --port N` in `cwd`, with REDIS_URL set (or removed, for the embedded Redis)."""

    def __init__(self, cwd: Path, redis_url: str | None, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        if redis_url is not None:
            env["REDIS_URL"] = redis_url
        env.setdefault("AWS_EC2_METADATA_DISABLED", "true")
        self.log_path = cwd / f"switchboard-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(SWITCHBOARD), "serve", "--port", str(self.port), "--log-level", "warning", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 30.0) -> ServeProcess:
        """Until it says `serving on` (with `--workers N`, once every worker serves: one answering /health is not
        enough, another may still be starting) and /health answers 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"switchboard exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if (
                    "switchboard: serving on " in self.log()
                    and httpx.get(f"{self.url}/health", timeout=1).status_code == 200
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"switchboard did not become ready:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: no shutdown of any kind."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def put_events(self, client: httpx.Client, entries: list[dict[str, Any]]) -> dict[str, Any]:
        response = client.post(
            self.url,
            json={"Entries": entries},
            headers={"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"},
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def call(self, client: httpx.Client, operation: str, body: dict[str, Any]) -> httpx.Response:
        return client.post(
            self.url,
            json=body,
            headers={"X-Amz-Target": f"AWSEvents.{operation}", "Content-Type": "application/x-amz-json-1.1"},
        )

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return parse_metrics(httpx.get(f"{self.url}/metrics", timeout=5).text)


@contextlib.contextmanager
def serving(cwd: Path, redis_url: str, count: int = 2) -> Iterator[list[ServeProcess]]:
    """`count` ready `switchboard serve` processes on one Redis, stopped on exit."""
    processes = [ServeProcess(cwd, redis_url) for _ in range(count)]
    try:
        for process in processes:
            process.wait_ready()
        yield processes
    finally:
        for process in processes:
            process.stop()


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} for every sample in a Prometheus text exposition."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def rule_count(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], bus: str, rule: str) -> float:
    return metrics.get(
        ("switchboard_triggered_rules_total", (("event_bus_name", bus), ("rule_name", rule))),
        0.0,
    )


def bus_count(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, bus: str) -> float:
    return metrics.get((name, (("event_bus_name", bus),)), 0.0)


def wait_for(predicate: Any, timeout_s: float, interval_s: float = 0.1) -> bool:
    """True once `predicate()` holds; fails the test (AssertionError) when `timeout_s` passes first."""
    eventually_sync(predicate, timeout_s, interval_s=interval_s)
    return True
