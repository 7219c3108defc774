"""`switchboard queue read NAME` and `switchboard queue tail NAME`: look into a queue target's stream.

Both print one JSON object per message (`id` = the stream entry id, `delivery_id`, `sent_ms`, `body` parsed as JSON
when it is JSON, else the text, and `attributes` when the message has any, e.g. a DLQ message's RULE_ARN, ...).
`read` prints the oldest `--count` messages (or those after `--after ID`) and exits; `tail` prints new messages as
they arrive until Ctrl-C (`--from-start` first prints what is there). Neither consumes anything: they read the
stream with XRANGE / XREAD, not through a consumer group, so consumers are not affected.

They use `REDIS_URL` (the URL `switchboard serve` prints at start), or else the embedded Redis of a `switchboard
serve` running in this directory (found through `.switchboard/redis/redis.url`), and the key prefix from
`SWITCHBOARD_KEY_PREFIX`; the first line on stderr names the Redis read. A cluster node's URL works: the cluster is
detected and read with redis-py's cluster client, so a queue on any node is found. A queue exists once something was
delivered to it: `read` of a queue that does not exist says so, lists a few that do, and exits 9 (NOT_FOUND);
`tail` says so and waits for its first message.

Queues live in an (account, region) namespace like every resource (router.namespace, docs/queues.md): both commands
read the home namespace's queue NAME unless given `--account ID` and `--region NAME` (router.namespace_options), as
`arn:aws:sqs:REGION:ACCOUNT:NAME` names it; the queues listed when one is missing are that namespace's.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

import orjson
import redis

from router.cli_redis import cli_redis
from router.keys import Keys
from router.namespace import Namespace
from router.namespace_options import chosen
from router.settings import Settings
from router.startup import ExitCode, StartupError

__all__ = ["read_command", "run", "tail_command"]

_LISTED_QUEUES = 10


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


def _some_queues(client: redis.Redis | redis.RedisCluster, keys: Keys, namespace: Namespace) -> list[str]:
    """A few names of `namespace`'s queues that have a stream."""
    pattern = keys.queue(keys.scoped("*", namespace))
    head, _, tail = pattern.partition("*")
    names: list[str] = []
    for raw in client.scan_iter(match=pattern, count=1000, _type="stream"):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        # the home namespace's pattern matches every namespace's queues: only its own are listed
        found = keys.in_namespace(keys.scoped(key[len(head) : len(key) - len(tail)], namespace), namespace)
        if found is not None:
            names.append(found)
        if len(names) >= _LISTED_QUEUES:
            break
    return sorted(names)


def _where(namespace: Namespace, keys: Keys) -> str:
    return "" if namespace == keys.home else f" of account {namespace.account_id} in {namespace.region}"


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """`switchboard queue read|tail` with its parsed arguments."""
    if args.queue_command == "read":
        return read_command(args.name, args.count, args.after, out, namespace=_chosen(args))
    return tail_command(args.name, args.from_start, out, namespace=_chosen(args))


def _chosen(args: argparse.Namespace) -> Namespace:
    return chosen(args, Settings.from_env())


def read_command(
    name: str, count: int, after: str | None, out: TextIO = sys.stdout, *, namespace: Namespace | None = None
) -> int:
    start = f"({after}" if after else "-"
    with cli_redis(reading=f"queue {name}") as session:
        client, keys = session.client, session.keys
        namespace = namespace or keys.home
        key = keys.queue(keys.scoped(name, namespace))  # the queue's key-layout name (router.keys)
        if not client.exists(key):
            known = _some_queues(client, keys, namespace)
            listed = f"queues there: {', '.join(known)}" if known else "no queue has received anything there yet"
            raise StartupError(
                ExitCode.NOT_FOUND,
                [
                    f"queue {name}{_where(namespace, keys)} does not exist in that Redis: nothing was delivered to "
                    f"it yet ({listed})"
                ],
            )
        entries: Any = client.xrange(key, min=start, count=count)
    for entry_id, fields in entries:
        print(_render(entry_id, fields), file=out, flush=True)
    return ExitCode.OK


def tail_command(
    name: str,
    from_start: bool,
    out: TextIO = sys.stdout,
    block_ms: int = 1000,
    *,
    namespace: Namespace | None = None,
) -> int:
    with cli_redis(reading=f"queue {name}") as session:
        client, keys = session.client, session.keys
        namespace = namespace or keys.home
        key = keys.queue(keys.scoped(name, namespace))  # the queue's key-layout name (router.keys)
        if not client.exists(key):
            print(
                f"switchboard: queue {name}{_where(namespace, keys)} does not exist yet; waiting for its first message",
                file=sys.stderr,
            )
        # Resolve "from now" to an id once: re-sending `$` after a read that timed out would skip what was appended
        # between the two reads.
        newest: Any = [] if from_start else client.xrevrange(key, count=1)
        last = newest[0][0].decode() if newest else "0-0"
        try:
            while True:
                reply: Any = client.xread({key: last}, count=100, block=block_ms)
                for _, entries in reply or []:
                    for entry_id, fields in entries:
                        print(_render(entry_id, fields), file=out, flush=True)
                        last = entry_id.decode()
        except KeyboardInterrupt:
            return ExitCode.OK
