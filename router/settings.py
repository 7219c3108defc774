"""Typed, frozen settings for the service, and the one place that reads the environment.

Every knob the router has lives on `Settings`. `Settings.from_env()` is the only function in the code base that
reads `os.environ`; everything else receives a `Settings` (or a value taken from one). Units are in the names.

`from_env` checks every variable before anything starts and never stops at the first mistake: it raises one
`SettingsError` whose `problems` name each variable, its value, what is wrong and the fix
(`SWITCHBOARD_PORT=xyz: not a port number; use an integer from 0 to 65535, or unset it for 4010`). Read a new
variable through `_Reader` (`text`, `integer`, `number`, ...), which records the problem instead of raising.
`unused_variables` lists `SWITCHBOARD_*` variables that no setting reads (a typo, usually), for a warning.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from router.quotas import QUOTA_VARIABLES, Quotas

PUT_EVENTS_LIMIT_BYTES = 1_048_576
"""EventBridge's PutEvents request-size limit since January 2026 (1 MiB, by AWS's entry-size formula)."""

PUT_EVENTS_LEGACY_LIMIT_BYTES = 262_144
"""The older 256 KiB limit, selectable with SWITCHBOARD_PUT_EVENTS_LIMIT_BYTES=262144."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4010
    redis_url: str | None = None
    """None means: start an embedded redis-server (persistence on) under `data_dir`."""
    region: str = "us-east-1"
    account_id: str = "123456789012"
    config_dir: Path | None = None
    data_dir: Path = Path(".switchboard")
    put_events_limit_bytes: int = PUT_EVENTS_LIMIT_BYTES
    max_request_body_bytes: int = 4 * 1_048_576
    """Hard cap on any HTTP request body; larger bodies are refused before they are read in full."""
    rules_refresh_interval_s: float = 0.25
    """How often a process checks Redis for rule changes made by another process."""
    key_prefix: str = "sb"
    """Prefix of every Redis key (see router.keys)."""
    secrets_key: str | None = None
    """Fernet key (urlsafe base64, 32 bytes) that encrypts connection credentials in Redis. None means: the key in
    `data_dir/secrets.key`, created on first use. Every router process sharing one Redis needs the same key."""
    delivery_visibility_timeout_s: float = 30.0
    """A delivery job a worker took but did not settle for this long is taken over by another worker (or process):
    its worker is presumed dead (kill -9). Must exceed the longest delivery (5 s HTTP timeout plus queueing)."""
    delivery_concurrency_per_target: int = 16
    """In-flight HTTP deliveries per target and process (queue and bus targets go in batches instead)."""
    redis_max_connections: int = 32
    """Connections of a process's command pool (per node on a cluster); callers wait for a free one. The workers'
    blocking reads use their own connections, at most two per bus partition (router.stream_reader)."""
    redis_socket_timeout_s: float = 5.0
    """A Redis command (on any connection but the workers' blocking reads, which wait their BLOCK time plus 5 s)
    that gets no answer within this long fails: a frozen or overloaded Redis gives clients the `timeout` fault's
    error (router.faults), never a hang."""
    redis_connect_timeout_s: float = 5.0
    """Connecting to Redis (TCP, TLS and the handshake) fails after this long: the `timeout` fault."""
    ingest_backlog_limit_events: int = 100_000
    """Per bus: events accepted but not yet processed by the ingest worker beyond which PutEvents answers the entries
    it cannot take with the retryable ThrottlingException (docs/operations.md, "Backpressure")."""

    # front door (router.front_door, router.startup): connections and read deadlines ---------------------------
    max_connections: int | None = None
    """Open client connections at most; beyond, a new one gets 503. None: 1024, lowered to fit the process's
    file-descriptor limit (RLIMIT_NOFILE) with room for Redis and outbound HTTP; a number that does not fit is a
    start-up error."""
    header_timeout_s: float = 10.0
    """A request's line and headers must arrive within this long (else 408, or a silent close if nothing came)."""
    body_timeout_s: float = 30.0
    """A request's body must arrive within this long of its headers (else 408)."""
    keep_alive_timeout_s: int = 5
    """A kept-alive connection idle this long is closed."""

    # timers and schedules (router.timers, router.schedules) ---------------------------------------------------
    timer_clock: str = "system"
    """Where timers read the time: `system`, or `redis` (the shared test clock key, see router.keys; tests only)."""
    timer_poll_interval_s: float = 0.5
    """How often each process looks for due timers (scheduled rules, schedules)."""
    timer_lease_s: float = 30.0
    """A claimed timer whose process did not complete it within this long is claimed again (its process died)."""

    quotas: Quotas = field(default_factory=Quotas)
    """AWS's resource quotas per account and region (router.quotas), each `SWITCHBOARD_QUOTA_<NAME>`."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from the environment (`os.environ` by default), then `overrides` that are not None (flags).

        Raises `SettingsError` listing every variable that is not valid."""
        env = _Reader(os.environ if environ is None else environ)
        base = cls()
        values: dict[str, object] = {
            "host": env.text("SWITCHBOARD_HOST", base.host, check=_host_problem),
            "port": env.integer("SWITCHBOARD_PORT", base.port, 0, 65535, what="a port number"),
            "redis_url": env.text("REDIS_URL", None, check=redis_url_problem, shown=redact_url),
            "region": env.text(
                "SWITCHBOARD_REGION",
                env.text("AWS_DEFAULT_REGION", base.region, check=_region_problem),
                check=_region_problem,
            ),
            "account_id": env.text("SWITCHBOARD_ACCOUNT_ID", base.account_id, check=_account_problem),
            "data_dir": Path(env.text("SWITCHBOARD_DATA_DIR", None, check=_data_dir_problem) or base.data_dir),
            "put_events_limit_bytes": env.integer(
                "SWITCHBOARD_PUT_EVENTS_LIMIT_BYTES", base.put_events_limit_bytes, 1, base.max_request_body_bytes
            ),
            "key_prefix": env.text("SWITCHBOARD_KEY_PREFIX", base.key_prefix, check=_key_prefix_problem),
            "secrets_key": env.text("SWITCHBOARD_SECRETS_KEY", None, check=_fernet_key_problem, shown=_hidden),
            "delivery_visibility_timeout_s": env.number(
                "SWITCHBOARD_DELIVERY_VISIBILITY_TIMEOUT_S", base.delivery_visibility_timeout_s, minimum=1.0
            ),
            "delivery_concurrency_per_target": env.integer(
                "SWITCHBOARD_DELIVERY_CONCURRENCY_PER_TARGET", base.delivery_concurrency_per_target, 1, 10_000
            ),
            "redis_max_connections": env.integer(
                "SWITCHBOARD_REDIS_MAX_CONNECTIONS", base.redis_max_connections, 1, 10_000
            ),
            "redis_socket_timeout_s": env.number(
                "SWITCHBOARD_REDIS_SOCKET_TIMEOUT_S", base.redis_socket_timeout_s, minimum=0.1
            ),
            "redis_connect_timeout_s": env.number(
                "SWITCHBOARD_REDIS_CONNECT_TIMEOUT_S", base.redis_connect_timeout_s, minimum=0.1
            ),
            "ingest_backlog_limit_events": env.integer(
                "SWITCHBOARD_INGEST_BACKLOG_LIMIT_EVENTS", base.ingest_backlog_limit_events, 0, 1_000_000_000
            ),
            "max_connections": env.integer("SWITCHBOARD_MAX_CONNECTIONS", None, 1, 1_000_000),
            "header_timeout_s": env.number("SWITCHBOARD_HEADER_TIMEOUT_S", base.header_timeout_s, minimum=0.1),
            "body_timeout_s": env.number("SWITCHBOARD_BODY_TIMEOUT_S", base.body_timeout_s, minimum=0.1),
            "keep_alive_timeout_s": env.integer("SWITCHBOARD_KEEP_ALIVE_TIMEOUT_S", base.keep_alive_timeout_s, 1, 3600),
            "timer_clock": env.text("SWITCHBOARD_TIMER_CLOCK", base.timer_clock, check=_timer_clock_problem),
            "timer_poll_interval_s": env.number(
                "SWITCHBOARD_TIMER_POLL_INTERVAL_S", base.timer_poll_interval_s, minimum=0.01
            ),
            "timer_lease_s": env.number("SWITCHBOARD_TIMER_LEASE_S", base.timer_lease_s, minimum=1.0),
            "quotas": Quotas(
                **{
                    name: env.integer(variable, getattr(base.quotas, name), 0, 10**9)
                    for name, variable in QUOTA_VARIABLES.items()
                }
            ),
        }
        config_dir = env.text("SWITCHBOARD_CONFIG_DIR", None)
        if config_dir is not None:
            values["config_dir"] = Path(config_dir)
        if env.problems:
            raise SettingsError(env.problems)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(base, **values)  # type: ignore[arg-type]


class SettingsError(Exception):
    """Settings that are not valid; `problems` holds one line per variable, each naming the variable and the fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def setting_variables() -> frozenset[str]:
    """Every environment variable `Settings.from_env` reads (the documented settings)."""
    reader = _Reader({})
    Settings.from_env(reader)
    return frozenset(reader.read)


def unused_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """`SWITCHBOARD_*` variables in the environment that no setting reads (usually a typo)."""
    env = os.environ if environ is None else environ
    reader = _Reader(env)
    with contextlib.suppress(SettingsError):
        Settings.from_env(reader)
    return sorted(name for name in env if name.startswith("SWITCHBOARD_") and name not in reader.read)


_Check = Callable[[str], "str | None"]
_D = TypeVar("_D", int, None)
"""Why a variable's value is not valid, with the fix, or None."""


class _Reader(Mapping[str, str]):
    """Reads variables, records which were read, and collects problems instead of raising.

    It is also a Mapping, so `Settings.from_env(reader)` records the names another reader asked for."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.read: set[str] = set()
        self.problems: list[str] = []
        if isinstance(env, _Reader):
            self.read = env.read  # share the record

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.env[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)

    def _raw(self, name: str) -> str | None:
        self.read.add(name)
        value = self.env.get(name)
        return value if value else None  # an empty variable counts as unset

    def text(
        self, name: str, default: str | None, check: _Check | None = None, *, shown: Callable[[str], str] = str
    ) -> str | None:
        """The variable's value, or `default`; `shown` renders the value in a problem (hide secrets there)."""
        value = self._raw(name)
        if value is None:
            return default
        problem = check(value) if check is not None else None
        if problem is not None:
            self.problems.append(f"{name}={shown(value)}: {problem}")
            return default
        return value

    def integer(self, name: str, default: _D, minimum: int, maximum: int, what: str = "an integer") -> int | _D:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value.strip())
        except ValueError:
            number = None
        if number is None or not minimum <= number <= maximum:
            unset = "unset it for the default" if default is None else f"unset it for {default}"
            self.problems.append(f"{name}={value}: not {what}; use an integer from {minimum} to {maximum}, or {unset}")
            return default
        return number

    def number(self, name: str, default: float, minimum: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value.strip())
        except ValueError:
            number = None
        if number is None or not number >= minimum or number == float("inf"):
            self.problems.append(
                f"{name}={value}: not a number of seconds; use a number >= {minimum:g}, or unset it for {default:g}"
            )
            return default
        return number


_REGION = re.compile(r"[a-z]{2,}(-[a-z]+)+-[0-9]+")
_ACCOUNT = re.compile(r"[0-9]{12}")
_KEY_PREFIX = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
REDIS_URL_SCHEMES = ("redis", "rediss", "unix")


def redis_url_problem(url: str) -> str | None:
    """Why redis-py would refuse `url`, in words a user can act on, or None."""
    fix = (
        "use redis://HOST:PORT/DB (rediss:// for TLS, unix:///path/to/redis.sock), "
        "or unset it to run an embedded redis-server"
    )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"not a Redis URL (the port is not a number); {fix}"
    if parts.scheme not in REDIS_URL_SCHEMES:
        return f"not a Redis URL (it must start with redis://, rediss:// or unix://); {fix}"
    if parts.scheme == "unix":
        return None if parts.path else f"not a Redis URL (no socket path); {fix}"
    if not parts.hostname:
        return f"not a Redis URL (no host); {fix}"
    if port == 0:
        return f"not a Redis URL (port 0); {fix}"
    database = parts.path.lstrip("/")
    if database and not database.isdigit():
        return f"not a Redis URL (the database after the last / must be a number); {fix}"
    return None


def redact_url(url: str) -> str:
    """`url` with its password replaced by `***`, for messages and logs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def _timer_clock_problem(clock: str) -> str | None:
    if clock in ("system", "redis"):
        return None
    return "not a timer clock; use system (the default) or redis (a shared test clock, for tests only)"


def _hidden(value: str) -> str:
    return "(hidden)"


def _host_problem(host: str) -> str | None:
    if any(c.isspace() for c in host) or "/" in host:
        return "not a host name or IP address; use e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
    return None


def _region_problem(region: str) -> str | None:
    if _REGION.fullmatch(region):
        return None
    return "not an AWS region name; use one such as us-east-1 or eu-west-1"


def _account_problem(account: str) -> str | None:
    return None if _ACCOUNT.fullmatch(account) else "not an AWS account id; use 12 digits, e.g. 123456789012"


def _data_dir_problem(path: str) -> str | None:
    if Path(path).exists() and not Path(path).is_dir():
        return "exists and is not a directory; point it at a directory (it is created if missing)"
    return None


def _key_prefix_problem(prefix: str) -> str | None:
    if _KEY_PREFIX.fullmatch(prefix):
        return None
    return "not a key prefix; use 1-64 letters, digits, '.', '-' or '_' (no ':', '{' or '}')"


def _fernet_key_problem(key: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == 32:
        return None
    return (
        "not a Fernet key (32 bytes, url-safe base64); make one with: .venv/bin/python -c "
        "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
    )
