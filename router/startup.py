"""What `switchboard` checks before it starts anything, the exit code of each failure class, and their messages.

A start-up failure a user can cause (a bad variable, a port in use, a Redis that is not there) is an expected
failure: it ends the command with one line per problem, naming the variable or flag and the fix, and the exit code
of its class, never a traceback (`--debug` shows one). `StartupError` carries both; `router.cli` prints it.

The checks, in the order `switchboard serve` runs them (router.serve):
- the settings (`router.settings.Settings.from_env`: every variable, all problems in one run);
- the config files (`router.config.load_dir`: every problem in one run);
- the listening socket, bound and listening before Redis or the app start, so a port in use is reported before
  anything was written and "serving on" is printed only once the router answers;
- the Redis at `REDIS_URL`: reachable, credentials accepted, version 6.2 or later (XAUTOCLAIM);
- the file-descriptor budget (`connection_budget`): the client connections the front door may hold
  (router.front_door), below the process's RLIMIT_NOFILE with room kept for Redis (sized by its pool setting and
  the topology found at REDIS_URL: one node, or the cluster's masters),
  outbound HTTP and files, so client sockets can never starve the router's own connections. The soft limit is
  raised to the hard one if needed.
"""

from __future__ import annotations

import enum
import errno
import logging
import resource
import socket
import time

import redis

from router.keys import BUS_PARTITIONS
from router.redis_client import connections_at_most
from router.settings import redact_url

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "LISTEN_BACKLOG",
    "MIN_REDIS_VERSION",
    "RESERVED_DESCRIPTORS",
    "ExitCode",
    "StartupError",
    "bind_socket",
    "check_redis",
    "connection_budget",
    "redis_descriptors",
]

log = logging.getLogger("switchboard")

MIN_REDIS_VERSION = (6, 2)
"""XAUTOCLAIM (the takeover of a dead process's events) needs Redis 6.2."""

LISTEN_BACKLOG = 256
"""Connections the kernel queues before the router accepts them; it bounds how many a flood makes the router accept
(and answer 503) at once, which RESERVED_DESCRIPTORS keeps room for."""

DEFAULT_MAX_CONNECTIONS = 1024
"""Client connections when SWITCHBOARD_MAX_CONNECTIONS is unset (lowered to fit the descriptor limit)."""

MIN_CONNECTIONS = 16
"""The fewest client connections the default budget lowers to, however small the descriptor limit."""

READER_CONNECTIONS = 2 * BUS_PARTITIONS
"""The workers' blocking-read connections at most: ingest and delivery, one each per bus partition
(router.stream_reader)."""


def redis_descriptors(redis_max_connections: int = 32, masters: int | None = None) -> int:
    """Descriptors kept for Redis, for the topology seen at start-up (`masters` None: a single Redis; else the
    number of masters of the cluster, `router.redis_client.count_masters`): the command client's connections at most
    (`router.redis_client.connections_at_most`: its pool on a single Redis, each master's node pool on a cluster),
    the workers' readers, and one SQS long-poll reader per node (router.sqs.waiters). 161 on a single Redis at the
    default SWITCHBOARD_REDIS_MAX_CONNECTIONS of 32; 323 on a 3-master cluster."""
    nodes = 1 if masters is None else masters
    return connections_at_most(redis_max_connections, masters) + READER_CONNECTIONS + nodes


RESERVED_DESCRIPTORS = 64 + redis_descriptors() + 512 + 100 + 256
"""Descriptors kept from the client-connection budget at the default Redis pool on a single Redis: files, logs and
the embedded redis-server's pipes (64); Redis connections (`redis_descriptors`, 161); outbound HTTP to function and
API destination targets (512, router.delivery.http) and OAuth token requests (100); connections the front door
accepts only to answer 503 under a flood (256). `connection_budget` swaps in the Redis part of the actual pool
size and topology."""


class ExitCode(enum.IntEnum):
    """`switchboard`'s exit codes, one per failure class (docs/operations.md lists them)."""

    OK = 0
    INTERNAL = 1
    """An unexpected error: a bug. One line, and the traceback with `--debug`."""
    USAGE = 2
    """A command line argparse refuses (unknown flag, missing argument, a flag value of the wrong form)."""
    SETTINGS = 3
    """An environment variable that is not valid."""
    CONFIG_INVALID = 4
    """Config files with problems (`serve --config`, `config validate`)."""
    CONFIG_APPLY = 5
    """Valid config files that could not be applied to the stored state."""
    REDIS = 6
    """Redis unreachable, refusing the credentials, too old, or the embedded redis-server could not start."""
    ADDRESS = 7
    """The host and port to serve on cannot be bound (in use, not on this machine, needs privileges)."""
    RESOURCES = 8
    """The process may not open enough files (RLIMIT_NOFILE) for the connection limits it was given."""
    NOT_FOUND = 9
    """What the command names does not exist (`queue read` of a queue nothing was delivered to)."""


class StartupError(Exception):
    """An expected failure: `lines` to print (one per problem) and the `code` to exit with."""

    def __init__(self, code: ExitCode, lines: list[str] | tuple[str, ...]) -> None:
        super().__init__("\n".join(lines))
        self.code = code
        self.lines = tuple(lines)


_WHERE_FIX = "choose another with --host / SWITCHBOARD_HOST and --port / SWITCHBOARD_PORT"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port), inheritable by worker processes; `StartupError(ADDRESS)` if not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as err:
        reason = err.strerror if isinstance(err, socket.gaierror) else str(err)
        raise StartupError(ExitCode.ADDRESS, [f"cannot serve on host {host!r}: {reason}; {_WHERE_FIX}"]) from err
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError as err:
        sock.close()
        raise StartupError(ExitCode.ADDRESS, [_bind_problem(host, port, err)]) from err
    sock.set_inheritable(True)
    return sock


def _bind_problem(host: str, port: int, err: OSError) -> str:
    where = f"{host}:{port}"
    if err.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is in use (another switchboard, or another program, listens there): stop it, or "
            "choose another port with --port N or SWITCHBOARD_PORT=N"
        )
    if err.errno == errno.EADDRNOTAVAIL:
        return f"cannot serve on {where}: {host} is not an address of this machine; {_WHERE_FIX}"
    if err.errno == errno.EACCES:
        return f"cannot serve on {where}: ports below 1024 need privileges; choose a port of 1024 or more with --port"
    return f"cannot serve on {where}: {err.strerror or err}; {_WHERE_FIX}"


def check_redis(url: str, *, timeout_s: float = 3.0, loading_timeout_s: float = 30.0) -> str:
    """Check the Redis at `url` (REDIS_URL) answers, accepts the credentials and is recent enough.

    Returns its version; raises `StartupError(REDIS)` with the reason and the fix. A Redis still loading its data
    is waited for (up to `loading_timeout_s`)."""
    shown = f"REDIS_URL={redact_url(url)}"
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    deadline = time.monotonic() + loading_timeout_s
    try:
        while True:
            try:
                info = client.info("server")
                break
            except redis.BusyLoadingError as err:
                if time.monotonic() > deadline:
                    raise StartupError(
                        ExitCode.REDIS,
                        [
                            f"the Redis at {shown} is still loading its data after {loading_timeout_s:g} s; start "
                            "switchboard again once it is ready"
                        ],
                    ) from err
                time.sleep(0.2)
    except redis.AuthenticationError as err:
        raise StartupError(ExitCode.REDIS, [_auth_problem(shown, err)]) from err
    except redis.ResponseError as err:
        if "NOAUTH" in str(err) or "WRONGPASS" in str(err):
            raise StartupError(ExitCode.REDIS, [_auth_problem(shown, err)]) from err
        raise StartupError(ExitCode.REDIS, [f"the Redis at {shown} refused INFO: {err}"]) from err
    except redis.TimeoutError as err:
        raise StartupError(
            ExitCode.REDIS,
            [
                f"the Redis at {shown} did not answer within {timeout_s:g} s; check that REDIS_URL names a Redis "
                "server (not another service), or unset REDIS_URL to run an embedded redis-server"
            ],
        ) from err
    except redis.ConnectionError as err:
        raise StartupError(
            ExitCode.REDIS,
            [
                f"cannot connect to the Redis at {shown} ({err}): start Redis there, correct REDIS_URL, or unset "
                "REDIS_URL to let switchboard run its own redis-server"
            ],
        ) from err
    finally:
        client.close()
    version = str(info.get("redis_version", "0"))
    if _version_tuple(version) < MIN_REDIS_VERSION:
        needed = ".".join(map(str, MIN_REDIS_VERSION))
        raise StartupError(
            ExitCode.REDIS,
            [
                f"the Redis at {shown} is version {version}; Switchboard needs Redis {needed} or later: upgrade it, or "
                "unset REDIS_URL to run the embedded redis-server"
            ],
        )
    return version


def _auth_problem(shown: str, err: Exception) -> str:
    return (
        f"the Redis at {shown} refused the credentials ({err}): put the right ones in the URL, "
        "redis://USER:PASSWORD@HOST:PORT/0 (or redis://:PASSWORD@HOST:PORT/0)"
    )


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def connection_budget(
    max_connections: int | None, *, redis_max_connections: int = 32, masters: int | None = None
) -> int:
    """How many client connections the front door may hold, within RLIMIT_NOFILE less the reserve (the Redis part
    sized by `redis_max_connections` and the topology, `masters` as in `redis_descriptors`; see
    RESERVED_DESCRIPTORS), so client sockets never starve Redis.

    `max_connections` None means DEFAULT_MAX_CONNECTIONS, lowered (with a warning) to what fits, but never below
    MIN_CONNECTIONS; a number given that does not fit even after raising the soft limit to the hard one is
    `StartupError(RESOURCES)`."""
    reserved = RESERVED_DESCRIPTORS - redis_descriptors() + redis_descriptors(redis_max_connections, masters)
    wanted = DEFAULT_MAX_CONNECTIONS if max_connections is None else max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + reserved
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        if raised > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
                soft = raised
            except (ValueError, OSError):
                pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    fitting = soft - reserved
    fix = (
        f"raise the limit (ulimit -n {needed}, LimitNOFILE={needed} in a systemd unit, --ulimit nofile={needed} for "
        "docker)"
    )
    if max_connections is not None:
        raise StartupError(
            ExitCode.RESOURCES,
            [
                f"SWITCHBOARD_MAX_CONNECTIONS={max_connections} needs {needed} file descriptors ({reserved} are kept "
                f"for Redis, outbound HTTP and files), but this process may open {soft}: {fix}, or lower "
                f"SWITCHBOARD_MAX_CONNECTIONS to {max(fitting, 0)}"
            ],
        )
    fitting = max(fitting, MIN_CONNECTIONS)  # a tiny limit: serve a few clients rather than refuse to start
    log.warning(
        "serving at most %d client connections (not %d): this process may open %d file descriptors and %d are "
        "kept for Redis, outbound HTTP and files; %s",
        fitting,
        wanted,
        soft,
        reserved,
        fix,
    )
    return fitting
