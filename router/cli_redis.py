"""The Redis a `switchboard` command that reads or changes the router's state works on, set up and torn down once.

`switchboard health-check`, `switchboard ingest parked|redrive` and `switchboard queue read|tail` act on the Redis
of a running router, not through its API. Each needs the same things, in the same order: the settings
(`Settings.from_env`), a key builder bound to the key prefix and to the home namespace (`Keys(prefix,
home(settings))`, so a command given `--account`/`--region` builds that namespace's key-layout names with
`keys.scoped(name, chosen(args, settings))`, router.namespace_options), a client of the Redis (`connect`: `REDIS_URL`,
or the embedded redis-server of a `switchboard serve` in this directory, a cluster detected), and, whatever happens,
the client closed. A Redis error while the command works is one line and exit code REDIS, naming the Redis (its URL
redacted) and what failed, never a traceback:

    with cli_redis() as session:                      # "cannot reach the Redis at URL: ERROR"
        session.client.hget(session.keys.health_checks, check)
    with cli_redis(reading=f"queue {name}") as session:   # "cannot read queue NAME from the Redis at URL: ERROR"
        ...

A `StartupError` the command raises itself (a bus that does not exist: NOT_FOUND) goes through unchanged.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from router.embedded_redis import URL_FILE, running_url
from router.keys import Keys
from router.namespace_options import home
from router.redis_client import is_cluster, split_cluster_flag
from router.settings import Settings, redact_url
from router.startup import ExitCode, StartupError

__all__ = ["CliRedis", "cli_redis", "connect"]


@dataclass(frozen=True, slots=True)
class CliRedis:
    """What a command works with: its settings, the key builder (home namespace bound), the client and its URL."""

    settings: Settings
    keys: Keys
    client: redis.Redis | redis.RedisCluster
    url: str


def connect(settings: Settings) -> tuple[redis.Redis | redis.RedisCluster, str]:
    """A client of the router's Redis, and its URL: `REDIS_URL`, else the embedded redis-server of a `switchboard
    serve` in this directory (its URL file); which one is printed on stderr. A cluster node's URL gives a cluster
    client. No Redis, or one that does not answer: `StartupError(REDIS)`."""
    if settings.redis_url is not None:
        url, source = settings.redis_url, "REDIS_URL"
    else:
        found = running_url(settings.data_dir / "redis")
        if found is None:
            raise StartupError(
                ExitCode.REDIS,
                [
                    "no Redis to read from: set REDIS_URL to the router's Redis, or run this where `switchboard "
                    "serve` runs its embedded one (it prints the URL at start)"
                ],
            )
        where = settings.data_dir / "redis" / URL_FILE
        url, source = found, f"the embedded redis-server of the switchboard serve in this directory, from {where}"
    print(f"switchboard: reading the Redis at {redact_url(url)} ({source})", file=sys.stderr, flush=True)
    plain, _ = split_cluster_flag(url)
    try:
        cluster = is_cluster(url, timeout_s=3)
    except redis.RedisError as err:
        raise StartupError(ExitCode.REDIS, [f"cannot reach the Redis at {redact_url(url)}: {err}"]) from err
    if cluster:
        return redis.RedisCluster.from_url(plain, socket_connect_timeout=3), url
    return redis.Redis.from_url(plain, socket_connect_timeout=3), url


@contextlib.contextmanager
def cli_redis(*, reading: str | None = None) -> Iterator[CliRedis]:
    """Settings, keys and a connected client for the block; the client is closed after it, and a Redis error in it
    becomes `StartupError(REDIS)`: "cannot read READING from the Redis at URL: ..." (or "cannot reach ...")."""
    settings = Settings.from_env()
    keys = Keys(settings.key_prefix, home(settings))
    client, url = connect(settings)
    try:
        yield CliRedis(settings, keys, client, url)
    except redis.RedisError as err:
        what = f"read {reading} from" if reading else "reach"
        raise StartupError(ExitCode.REDIS, [f"cannot {what} the Redis at {redact_url(url)}: {err}"]) from err
    finally:
        client.close()
