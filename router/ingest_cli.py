"""`switchboard ingest parked BUS` and `switchboard ingest redrive BUS`: the events the ingest worker parked.

The ingest worker parks an event it could not route (router.ingest, "Parking": its matcher kept failing with an
internal error, or the stream entry is not an event) in the bus's parked stream instead of acknowledging it as if it
had been routed. `parked` prints them, oldest first, one JSON object per line: `id` (the parked entry's id), `from`
(its id in the ingest stream), `reason` (`internal-error` or `malformed`), `error`, `parked_ms`, `hops` when set,
and `event` (parsed when it is JSON). `redrive` appends them (all, the oldest `--count`, or the `--id`s given) back
to the bus's ingest stream, where they are routed like new events (same envelope and event id, so deliveries keep
their delivery ids), and deletes them from the parked stream, each in one script in the bus's slot. Once the cause
is fixed (a rule fixed or removed), `redrive` is how parked events reach their targets. Both use the Redis
`switchboard queue` uses (`REDIS_URL`, or the embedded one of a `switchboard serve` in this directory;
router.cli_redis). BUS is a bus
of the home namespace, or of the account and region `--account`/`--region` name (router.namespace_options).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

import orjson

from router.cli_redis import cli_redis
from router.ingest import REDRIVE_SCRIPT
from router.keys import Keys
from router.namespace_options import chosen, namespace_options
from router.startup import ExitCode, StartupError

__all__ = ["add_commands", "run"]


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `ingest parked` and `ingest redrive` to the `switchboard` command's subparsers."""
    ingest = commands.add_parser(
        "ingest",
        parents=[common],
        help="look at and re-drive events the router parked",
        description="Events the ingest worker could not route are parked per bus (docs/operations.md, Parking).",
    )
    sub = ingest.add_subparsers(dest="ingest_command", required=True, metavar="COMMAND", help="what to do")
    ns = namespace_options()
    listing = sub.add_parser(
        "parked", parents=[common, ns], help="print a bus's parked events, one JSON object per line"
    )
    listing.add_argument("bus", metavar="BUS", help="the event bus name")
    listing.add_argument("--count", type=int, default=100, help="print at most this many (default 100)")
    redrive = sub.add_parser(
        "redrive", parents=[common, ns], help="append parked events back to the bus's ingest stream"
    )
    redrive.add_argument("bus", metavar="BUS", help="the event bus name")
    redrive.add_argument("--id", action="append", default=[], metavar="ID", help="only this parked id (repeatable)")
    redrive.add_argument("--count", type=int, default=10_000, help="at most this many, oldest first (default 10000)")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    with cli_redis() as session:
        keys = session.keys  # bound to the home namespace: `scoped` gives another's names their prefix
        bus = keys.scoped(args.bus, chosen(args, session.settings))  # the bus's key-layout name (router.keys)
        if args.ingest_command == "parked":
            return _list(session.client, keys, bus, args.count, out)
        return _redrive(session.client, keys, bus, args.id, args.count, out=out)


def _list(client: Any, keys: Keys, bus: str, count: int, out: TextIO) -> int:
    entries: Any = client.xrange(keys.ingest_parked(bus), count=count)
    for entry_id, fields in entries:
        print(orjson.dumps(_render(entry_id, fields)).decode(), file=out, flush=True)
    return ExitCode.OK


def _render(entry_id: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
    text = {k.decode(errors="replace"): v for k, v in fields.items()}
    shown: dict[str, Any] = {"id": entry_id.decode()}
    for name, field in (("from", "parked_from"), ("reason", "parked_reason"), ("error", "parked_error")):
        if field in text:
            shown[name] = text[field].decode(errors="replace")
    if "parked_ms" in text:
        shown["parked_ms"] = int(text["parked_ms"])
    if "hops" in text:
        shown["hops"] = int(text["hops"] or 0)
    event = text.get("event")
    if event is not None:
        try:
            shown["event"] = orjson.loads(event)
        except orjson.JSONDecodeError:
            shown["event"] = event.decode(errors="replace")
    return shown


def _redrive(client: Any, keys: Keys, bus: str, ids: list[str], count: int, *, out: TextIO) -> int:
    script = client.register_script(REDRIVE_SCRIPT)
    moved = script(keys=[keys.ingest_parked(bus), keys.ingest(bus), keys.bus_exists(bus)], args=[count, *ids])
    if moved is None:
        raise StartupError(ExitCode.NOT_FOUND, [f"event bus {_shown_bus(keys, bus)} does not exist"])
    plural = "s" if int(moved) != 1 else ""
    print(f"re-drove {int(moved)} parked event{plural} of bus {_shown_bus(keys, bus)}", file=out, flush=True)
    return ExitCode.OK


def _shown_bus(keys: Keys, bus: str) -> str:
    """A bus as messages name it: its name, with its account and region when it is not the home namespace's."""
    namespace, name = keys.unscoped(bus)
    return name if namespace == keys.home else f"{name} (account {namespace.account_id}, {namespace.region})"
