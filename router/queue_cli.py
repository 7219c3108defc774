"""`switchboard queue read NAME` and `switchboard queue tail NAME`: look into a queue target's stream.

Both print one JSON object per message (`id` = the stream entry id, `delivery_id`, `sent_ms`, `body` parsed as JSON
when it is JSON, else the text, and `attributes` when the message has any, e.g. a DLQ message's RULE_ARN, ...).
`read` prints the oldest `--count` messages (or those after `--after ID`) and exits; `tail` prints new messages as
they arrive until Ctrl-C (`--from-start` first prints what is there). Neither consumes anything: they read the
stream with XRANGE / XREAD, not through a consumer group, so consumers are not affected. They use `REDIS_URL` (the
URL `switchboard serve` prints at start; a cluster node's URL works: a cluster is detected and read with redis-py's
cluster client, so a queue on any node is found), or else the embedded Redis of a `switchboard serve` running in this
directory (found through `.switchboard/redis/redis.url`), and the key prefix from `SWITCHBOARD_KEY_PREFIX`.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

import orjson
import redis

from router.embedded_redis import running_url
from router.keys import Keys
from router.redis_client import is_cluster, split_cluster_flag
from router.settings import Settings

__all__ = ["read_command", "tail_command"]


def _render(entry_id: bytes, fields: dict[bytes, bytes]) -> str:
    out: dict[str, Any] = {"id": entry_id.decode()}
    for name, value in fields.items():
        key = name.decode()
        if key in ("body", "attributes"):
            try:
                out[key] = orjson.loads(value)
            except orjson.JSONDecodeError:
                out[key] = value.decode(errors="replace")
        else:
            out[key] = value.decode(errors="replace")
    return orjson.dumps(out).decode()


def _connect(settings: Settings) -> redis.Redis | redis.RedisCluster | None:
    url = settings.redis_url or running_url(settings.data_dir / "redis")
    if url is None:
        print(
            "switchboard: no Redis to read from: set REDIS_URL to the router's Redis, or run this where "
            "`switchboard serve` runs its embedded one (it prints the URL at start)",
            file=sys.stderr,
        )
        return None
    plain, _ = split_cluster_flag(url)
    try:
        cluster = is_cluster(url)
    except redis.RedisError as err:
        print(f"switchboard: cannot reach Redis at {plain}: {err}", file=sys.stderr)
        return None
    if cluster:
        return redis.RedisCluster.from_url(plain)
    return redis.Redis.from_url(plain)


def read_command(name: str, count: int, after: str | None, out: TextIO = sys.stdout) -> int:
    settings = Settings.from_env()
    client = _connect(settings)
    if client is None:
        return 1
    start = f"({after}" if after else "-"
    try:
        entries: Any = client.xrange(Keys(settings.key_prefix).queue(name), min=start, count=count)
    except redis.RedisError as err:
        print(f"switchboard: cannot read queue {name}: {err}", file=sys.stderr)
        return 1
    for entry_id, fields in entries:
        print(_render(entry_id, fields), file=out, flush=True)
    return 0


def tail_command(name: str, from_start: bool, out: TextIO = sys.stdout, block_ms: int = 1000) -> int:
    settings = Settings.from_env()
    client = _connect(settings)
    if client is None:
        return 1
    key = Keys(settings.key_prefix).queue(name)
    last = "0-0" if from_start else "$"
    try:
        while True:
            reply: Any = client.xread({key: last}, count=100, block=block_ms)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    print(_render(entry_id, fields), file=out, flush=True)
                    last = entry_id.decode()
    except KeyboardInterrupt:
        return 0
    except redis.RedisError as err:
        print(f"switchboard: cannot read queue {name}: {err}", file=sys.stderr)
        return 1
