"""`switchboard serve --workers N`: N router processes on one port, sharing one Redis, so a machine's cores are used.

A pre-forked server. The parent process binds the listening socket (router.serve, before anything else starts),
starts or checks Redis, applies the config files once (an app with no workers runs its start-up hooks and the config,
then stops), and then forks N children. Each child runs a whole router (router.app: HTTP, ingest and delivery
workers, timers) on the inherited socket; the kernel hands each new connection to one of the children that accept
on it. They share the Redis like any N routers do: each event is processed by one of them, counters are exact, and a
rule change made through one is in force in all within a second (docs/operations.md). The default, 1, runs the
router in the `switchboard serve` process itself, as before.

The parent prints "serving on ..." once every child answers, then supervises: a child that exits while serving
(crashed, killed) is started again (at most 5 restarts a minute, then the parent stops everything and exits 1), and
events it held are taken over by the others (router.ingest's takeover of abandoned entries). SIGTERM or SIGINT to the
parent stops the children gracefully (each finishes its open requests, then its workers) and then the parent; the
children run in their own process group, so a Ctrl-C in the terminal reaches only the parent, which stops them once.
If the parent dies without stopping them (kill -9), the children get SIGTERM from the kernel (Linux) and stop.

Per-process metrics (`switchboard_requests_total`, ...) on /metrics are those of the child that answered the scrape;
Redis-backed ones (MatchedEvents, ...) are the same from every child.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from router.settings import Settings, redact_url
from router.startup import ExitCode, StartupError

__all__ = ["MAX_RESTARTS_PER_MINUTE", "serve_workers"]

log = logging.getLogger("switchboard")

MAX_RESTARTS_PER_MINUTE = 5
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
RESIGNAL_S = 5.0


def serve_workers(
    settings: Settings, config: Any, options: Any, sock: socket.socket, *, limits: Any, announce: Callable[[int], None]
) -> None:
    """Apply `config` once, fork `options.workers` routers on `sock`, supervise them until SIGTERM/SIGINT.

    Each child serves with the front door's `limits` (router.front_door). `announce(n)` is called once all n
    children serve."""
    if config is not None:
        _apply_config(settings, config)
    supervisor = _Supervisor(settings, options, sock, limits)
    supervisor.run(announce)


def _apply_config(settings: Settings, config: Any) -> None:
    """Start-up hooks and the config, in this process, before any child starts (so they run once, not N times)."""
    import redis

    from router.app import create_app
    from router.serve import _config_apply_problem

    async def apply() -> None:
        app = create_app(settings, config=config, ingest=False)
        async with app.router.lifespan_context(app):
            pass

    try:
        asyncio.run(apply())
    except redis.RedisError as err:
        shown = redact_url(settings.redis_url or "")
        raise StartupError(ExitCode.REDIS, [f"Redis at {shown} failed during start-up: {err}"]) from err
    except Exception as err:
        _config_apply_problem(err, settings)
        raise


class _Supervisor:
    def __init__(self, settings: Settings, options: Any, sock: socket.socket, limits: Any) -> None:
        self.settings = settings
        self.limits = limits
        self.options = options
        self.sock = sock
        self.count = int(options.workers)
        self.children: dict[int, int] = {}
        """pid -> worker index."""
        self.stopping = False
        self.restarts: list[float] = []
        self._signalled_at = -1e9
        """When the children were last sent SIGTERM."""
        self._ready_r, self._ready_w = os.pipe()

    def run(self, announce: Callable[[int], None]) -> None:
        previous = {signum: signal.signal(signum, self._stop_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(self.count):
                self._spawn(index)
            self._wait_ready()
            if not self.stopping:
                announce(self.count)
            self._supervise()
        finally:
            self._stop_children()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(self._ready_r)
            os.close(self._ready_w)

    # children ---------------------------------------------------------------------------------------------------
    def _spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child (its exit code is what the parent sees)
            code: int = ExitCode.INTERNAL
            try:
                code = _child(
                    self.settings, self.options, self.sock, limits=self.limits, ready_fd=self._ready_w, index=index
                )
            finally:
                os._exit(int(code))
        self.children[pid] = index
        log.info("worker %d started (pid %d)", index, pid)

    def _wait_ready(self) -> None:
        ready = 0
        deadline = time.monotonic() + START_TIMEOUT_S
        while ready < self.count and not self.stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StartupError(ExitCode.INTERNAL, [f"{self.count - ready} workers did not start within 60 s"])
            with contextlib.suppress(InterruptedError):
                readable, _, _ = select.select([self._ready_r], [], [], min(remaining, 0.2))
                if readable:
                    ready += len(os.read(self._ready_r, 64))
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid:
                index = self.children.pop(pid, -1)
                code = os.waitstatus_to_exitcode(status)
                raise StartupError(_exit_code(code), [f"worker {index} exited with {code} during start-up"])

    def _supervise(self) -> None:
        while self.children and not self.stopping:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return
            except InterruptedError:  # pragma: no cover - PEP 475 retries; a handler may still interrupt
                continue
            index = self.children.pop(pid, None)
            if index is None or self.stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            now = time.monotonic()
            self.restarts = [t for t in self.restarts if now - t < 60] + [now]
            if len(self.restarts) > MAX_RESTARTS_PER_MINUTE:
                log.error("worker %d (pid %d) exited with %d: too many restarts, stopping", index, pid, code)
                raise StartupError(ExitCode.INTERNAL, [f"workers keep exiting (last: worker {index}, code {code})"])
            log.warning("worker %d (pid %d) exited with %d; starting it again", index, pid, code)
            self._spawn(index)

    def _stop_signal(self, signum: int, frame: object) -> None:
        if not self.stopping:
            self.stopping = True
            self._signalled_at = time.monotonic()
            for pid in list(self.children):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def _stop_children(self) -> None:
        """SIGTERM every child, again every `RESIGNAL_S` to those still running (a child that was still starting
        may have missed it; a second one makes uvicorn stop at once), SIGKILL after `STOP_TIMEOUT_S`."""
        self.stopping = True
        deadline = time.monotonic() + STOP_TIMEOUT_S
        signalled = self._signalled_at
        while self.children and time.monotonic() < deadline:
            if time.monotonic() - signalled >= RESIGNAL_S:
                signalled = self._signalled_at = time.monotonic()
                for pid in list(self.children):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid:
                self.children.pop(pid, None)
            else:
                time.sleep(0.05)
        for pid in list(self.children):  # did not stop in time
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.children.clear()


def _exit_code(code: int) -> ExitCode:
    try:
        return ExitCode(code)
    except ValueError:
        return ExitCode.INTERNAL


def _child(  # pragma: no cover - in the child
    settings: Settings, options: Any, sock: socket.socket, *, limits: Any, ready_fd: int, index: int
) -> int:
    """One router on the inherited socket; returns its exit code."""
    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches only the parent, which stops the children once
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    _die_with_parent()
    from router.app import create_app
    from router.serve import _run

    told = False

    def announce() -> None:
        nonlocal told
        if not told:
            told = True
            os.write(ready_fd, b"r")

    try:
        app = create_app(settings)
        _run(app, sock, settings, options, limits=limits, announce=announce)
    except StartupError as err:
        for line in err.lines:
            print(f"switchboard: worker {index}: {line}", file=sys.stderr, flush=True)
        return int(err.code)
    except KeyboardInterrupt:
        return 0
    except BaseException:
        log.exception("worker %d failed", index)
        return int(ExitCode.INTERNAL)
    return 0


def _die_with_parent() -> None:  # pragma: no cover - in the child
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
