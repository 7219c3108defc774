"""The benchmarks' process set-up, in one place: free ports, a throwaway redis-server, `switchboard serve` as a child,
waiting for a server to answer, stopping a child, and CPU seconds read from /proc.

Every benchmark starts the same real processes the tests start (a redis-server on 127.0.0.1 with its data in a
temporary folder, the `switchboard` command of this virtualenv), so what one of them changes (a flag, a start-up
deadline) changes for all of them."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

__all__ = ["SWITCHBOARD", "cpu_s", "free_port", "redis_server", "serve", "stop", "wait_ready"]

SWITCHBOARD = Path(sys.executable).parent / "switchboard"
"""The `switchboard` command of the running virtualenv."""

_LIST_BUSES = {"X-Amz-Target": "AWSEvents.ListEventBuses", "Content-Type": "application/x-amz-json-1.1"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server(port: int, data_dir: Path, *, fsync: str | None = None) -> subprocess.Popen[bytes]:
    """A redis-server child on 127.0.0.1:`port`, data in `data_dir`, no RDB snapshots; the append-only file on with
    `appendfsync fsync` when `fsync` is given, else off. The caller waits for it (it answers PING within ~50 ms)."""
    args = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    args += ["--dir", str(data_dir), "--save", ""]
    args += ["--appendonly", "no"] if fsync is None else ["--appendonly", "yes", "--appendfsync", fsync]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def serve(
    port: int, cwd: Path, *, env: Mapping[str, str] | None = None, args: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """`switchboard serve --port PORT --log-level warning ARGS...` in `cwd`, with environment `env` (None: this
    process's; `REDIS_URL` in it, or not for the embedded redis-server); output discarded."""
    command = [str(SWITCHBOARD), "serve", "--port", str(port), "--log-level", "warning", *args]
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Until the EventBridge API at `url` answers (any answer), or RuntimeError when `proc` exits or time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            httpx.post(url, content=b"{}", headers=_LIST_BUSES, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.args!r} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, up to 20 s for a clean stop, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
