"""`switchboard serve`: the start-up sequence, the HTTP server, and a clean stop.

In order, each step failing with a `router.startup.StartupError` (one line per problem, its exit code) before the
next one starts:

1. the settings and the config files were checked by the caller (router.cli) before anything else;
2. the file-descriptor budget is settled (`connection_budget`) when the router runs its own redis-server, then the
   listening socket is bound (`bind_socket`): a port in use is reported before Redis or the app start;
3. Redis: the embedded redis-server is started (`REDIS_URL` unset) or the one at `REDIS_URL` is checked, and then
   the budget is settled for its topology (a single Redis, or the number of masters of a cluster);
4. the app's lifespan runs here, not in uvicorn (which would log a startup failure with a traceback): start-up
   hooks, the config applied (router.config.apply: checked against the stored state first, nothing written if that
   fails), the ingest and delivery workers;
5. uvicorn serves on the bound socket through router.front_door's protocol (connection cap, header and body
   deadlines, idle keep-alive timeout), and "serving on ..." is printed once it accepts requests.

SIGINT or SIGTERM during start-up stops cleanly (exit 0); while serving, uvicorn shuts down gracefully (open
requests finish), then the lifespan stops the workers and the embedded Redis is stopped last.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import redis
import uvicorn
from starlette.applications import Starlette

from router.embedded_redis import EmbeddedRedis, EmbeddedRedisError
from router.faults import QuietFaults
from router.front_door import Limits, protocol_class
from router.matchers import HEAP
from router.redis_client import count_masters
from router.settings import Settings, redact_url
from router.startup import LISTEN_BACKLOG, ExitCode, StartupError, bind_socket, check_redis, connection_budget

__all__ = ["ServeOptions", "serve"]

log = logging.getLogger("switchboard")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    fsync: str = "always"
    """Embedded Redis only: `always` fsyncs the AOF before every answer, `everysec` once a second."""
    log_level: str = "info"
    workers: int = 1
    """Router processes on the one port (`--workers`; router.workers forks them when more than 1)."""


def serve(settings: Settings, config: Any, options: ServeOptions) -> None:
    """Run the router until SIGINT/SIGTERM. `config` is a loaded `router.config.ConfigSet` or None."""
    budget = functools.partial(
        connection_budget, settings.max_connections, redis_max_connections=settings.redis_max_connections
    )
    if settings.redis_url is None:
        max_connections = budget()  # the embedded redis-server: one node; nothing started yet if it does not fit
    sock = bind_socket(settings.host, settings.port)
    port = int(sock.getsockname()[1])
    embedded: EmbeddedRedis | None = None
    try:
        if settings.redis_url is None:
            embedded = EmbeddedRedis(settings.data_dir / "redis", appendfsync=options.fsync)
            try:
                url = embedded.start()
            except EmbeddedRedisError as err:
                raise StartupError(ExitCode.REDIS, [str(err)]) from err
            settings = replace(settings, redis_url=url)
            where = f"embedded redis-server at {url}, data in {embedded.data_dir}, appendfsync {options.fsync}"
        else:
            check_redis(settings.redis_url)
            max_connections = budget(masters=_masters(settings.redis_url))  # the reserve follows the topology
            where = f"Redis at {redact_url(settings.redis_url)}"
        announce = f"serving on http://{_url_host(settings.host)}:{port} ({where})"
        limits = Limits(
            max_connections=max_connections,
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
        )
        if options.workers > 1:
            from router.workers import serve_workers

            def tell(n: int) -> None:
                print(f"switchboard: {announce}, {n} worker processes", file=sys.stderr, flush=True)

            serve_workers(settings, config, options, sock, limits=limits, announce=tell)
            return
        from router.app import create_app

        app = create_app(settings, config=config)
        _run(app, sock, settings, options, limits=limits, announce=announce)
    finally:
        sock.close()
        if embedded is not None:
            embedded.stop()


def _masters(url: str) -> int | None:
    """None for a single Redis at `url`, else how many masters the cluster has (router.redis_client)."""
    try:
        return count_masters(url, timeout_s=3)
    except redis.RedisError as err:
        raise StartupError(ExitCode.REDIS, [f"the Redis at REDIS_URL={redact_url(url)} failed: {err}"]) from err


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class _Server(uvicorn.Server):
    """uvicorn's server, announcing itself once it listens."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._announce()


def _run(
    app: Starlette,
    sock: socket.socket,
    settings: Settings,
    options: ServeOptions,
    *,
    limits: Limits,
    announce: str | Callable[[], None],
) -> None:
    """Serve `app` on `sock` until stopped; `announce` (a line to print, or what to call) once it accepts requests."""
    protocol = protocol_class(limits)  # router.front_door: connection cap, header and body deadlines
    app.state.switchboard.extras["front_door"] = protocol  # its counters, for /metrics
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=protocol,
        lifespan="off",  # run below, so a start-up failure is ours to report
        log_level=options.log_level,
        access_log=False,
        timeout_keep_alive=settings.keep_alive_timeout_s,
        limit_concurrency=limits.max_connections + 1,  # requests in flight; connections are capped by the protocol
        backlog=LISTEN_BACKLOG,
    )
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # configured by uvicorn.Config
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(QuietFaults())
    tell = announce if callable(announce) else lambda: print(f"switchboard: {announce}", file=sys.stderr, flush=True)
    server = _Server(config, tell)
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_lifespan_then_serve(app, server, sock, settings))


def _ignore_signal(signum: int, frame: object) -> None:
    """After uvicorn's graceful shutdown it re-raises the signal it caught; that stop is already under way."""


async def _lifespan_then_serve(app: Starlette, server: _Server, sock: socket.socket, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    for signum in stop_signals:  # during start-up: stop cleanly
        loop.add_signal_handler(signum, task.cancel)
    starting = True
    try:
        async with app.router.lifespan_context(app):
            for signum in stop_signals:  # while serving: uvicorn's graceful shutdown
                loop.remove_signal_handler(signum)
                signal.signal(signum, _ignore_signal)
            starting = False
            HEAP.started()  # the settled start-up heap out of the collector's reach (router.matchers.HeapPolicy)
            await server.serve(sockets=[sock])
    except asyncio.CancelledError:
        if not starting:
            raise
        log.info("stopped during start-up")
    except redis.RedisError as err:
        if not starting:
            raise
        shown = redact_url(settings.redis_url or "")
        raise StartupError(ExitCode.REDIS, [f"Redis at {shown} failed during start-up: {err}"]) from err
    except Exception as err:
        if starting:
            _config_apply_problem(err, settings)
        raise


def _config_apply_problem(err: Exception, settings: Settings) -> None:
    """Turn a config that could not be applied into `StartupError(CONFIG_APPLY)` (other errors pass)."""
    from router.config import ConfigApplyError

    if isinstance(err, ConfigApplyError):
        header = f"the config in {settings.config_dir} could not be applied:"
        raise StartupError(ExitCode.CONFIG_APPLY, [header, *err.lines()]) from err
