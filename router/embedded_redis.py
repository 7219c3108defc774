"""A `redis-server` child process for `switchboard serve` when no `REDIS_URL` is given.

The child binds 127.0.0.1 on a free port and keeps its data in one directory (by default `.switchboard/redis/` in the
working directory), so a restart finds every accepted event that was not yet processed. Persistence is the
append-only file only (`appendonly yes`, RDB snapshots off):

- `appendfsync always` (the default) fsyncs the AOF before Redis answers, so an event PutEvents called accepted
  survives a crash of the router, of redis-server *and* of the machine. Redis batches the fsync over all clients
  served in one event-loop turn, so the cost is one fsync per turn, not per event.
- `appendfsync everysec` (`switchboard serve --fsync everysec`) writes the AOF before answering but fsyncs once a
  second: every accepted event survives a killed process (the data is in the kernel's page cache), but a power
  loss or kernel crash can lose up to about a second of accepted events. It is faster on slow disks.

The child runs in its own session (Ctrl-C in a terminal reaches only the router, which then stops Redis cleanly
after the app has shut down) and, on Linux, gets SIGTERM if the router dies without cleaning up. A lock file
keeps two routers from running two redis-servers on the same data directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

import redis

from router.startup import ExitCode, StartupError

if TYPE_CHECKING:
    from router.settings import Settings

FSYNC_POLICIES = ("always", "everysec")


class EmbeddedRedisError(RuntimeError):
    """redis-server is missing, the data directory is in use, or the child did not come up."""


URL_FILE = "redis.url"
"""Written next to the data while the embedded server runs, so other commands (`switchboard queue ...`) find it."""


def running_url(data_dir: Path) -> str | None:
    """The URL of the embedded redis-server a `switchboard serve` runs on `data_dir`, if one is running."""
    try:
        url = (Path(data_dir) / URL_FILE).read_text().strip()
    except OSError:
        return None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError:
        return None
    return url


def router_redis_url(settings: Settings) -> str:
    """The Redis a command-line tool (`switchboard archive`, `saga`, ...) should use: REDIS_URL, else the embedded
    redis-server of a `switchboard serve` running on this data directory; `StartupError(REDIS)` when neither is."""
    if settings.redis_url is not None:
        return settings.redis_url
    found = running_url(settings.data_dir / "redis")
    if found is None:
        raise StartupError(
            ExitCode.REDIS,
            ["no Redis: set REDIS_URL to the router's Redis, or run this where `switchboard serve` runs its own"],
        )
    return found


def _last_line(log: Path) -> str:
    """The last line redis-server logged (its reason for exiting), without the pid/time prefix."""
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log written"
    if not lines:
        return "no log written"
    return lines[-1].split(" # ", 1)[-1].split(" * ", 1)[-1].strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class EmbeddedRedis:
    """Start with `start()` (or `with EmbeddedRedis(dir) as url:`), stop with `stop()`."""

    def __init__(self, data_dir: Path, *, appendfsync: str = "always", start_timeout_s: float = 15.0) -> None:
        if appendfsync not in FSYNC_POLICIES:
            raise ValueError(f"appendfsync must be one of {FSYNC_POLICIES}, not {appendfsync!r}")
        self.data_dir = Path(data_dir).resolve()
        self.appendfsync = appendfsync
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        exe = shutil.which("redis-server")
        if exe is None:
            raise EmbeddedRedisError(
                "redis-server is not installed. Install it (sudo apt-get install redis-server, or `make run`, which "
                "does it when run as root), or point REDIS_URL at a running Redis."
            )
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        except EmbeddedRedisError:
            raise
        except OSError as err:
            raise EmbeddedRedisError(
                f"cannot use {self.data_dir} for the embedded redis-server's data ({err.strerror or err}): point "
                "SWITCHBOARD_DATA_DIR at a directory you can write, or set REDIS_URL to a running Redis"
            ) from err
        try:
            for _attempt in range(3):  # the free port can be taken between probing and binding
                self.port = _free_port()
                self.proc = subprocess.Popen(
                    self._args(exe),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 - setsid + pdeathsig, no threads yet
                )
                if self._wait_ready():
                    (self.data_dir / URL_FILE).write_text(self.url + "\n")
                    return self.url
                self._kill()
            log = self.data_dir / "redis.log"
            raise EmbeddedRedisError(f"redis-server did not start ({_last_line(log)}); see {log}")
        except BaseException:
            self._release_lock()
            raise

    def _args(self, exe: str) -> list[str]:
        return [
            exe,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
        ]

    def _wait_ready(self) -> bool:
        assert self.proc is not None
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + self.start_timeout_s
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.exceptions.BusyLoadingError:
                    pass  # replaying the AOF: wait
                except (redis.ConnectionError, redis.TimeoutError):
                    pass
                time.sleep(0.05)
            return False
        finally:
            client.close()

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM: redis-server flushes and fsyncs the AOF, then exits. SIGKILL only if it hangs."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    self._kill()
        finally:
            self.proc = None
            with contextlib.suppress(OSError):  # never written (start failed), or already gone
                (self.data_dir / URL_FILE).unlink()
            self._release_lock()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _take_lock(self) -> None:
        lock = (self.data_dir / "switchboard.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            lock.close()
            raise EmbeddedRedisError(
                f"{self.data_dir} is in use by another switchboard process. To run several routers, start one "
                "Redis and give each the same REDIS_URL."
            ) from err
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
