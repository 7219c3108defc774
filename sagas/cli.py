"""`switchboard saga list|status|resume` and `switchboard demo order-to-cash` (router.extensions `Extension.cli`).

The saga commands read the router's Redis directly (sagas.view), as `switchboard queue` and `switchboard archive`
do: `REDIS_URL`, or else the embedded Redis of a `switchboard serve` running in this directory; the key prefix is
`SWITCHBOARD_KEY_PREFIX` (router.settings). They need no saga code: the runtime registers each definition.

- `saga list [--type T] [--state S] [--limit N] [--json]`: one line per instance, most recently changed first:
  type, id, status, state, last change (UTC); `--state` takes a status (`completed`, `PARKED`) or a state name
  (`shipping`, `compensate:payment`). A last line counts the instances per status.
- `saga status ID [--type T] [--json]`: where the instance is (status, state, version, times), its data, its steps
  (status, attempts, start and end), pending timers and outbox messages, then its history: one line per
  transition with the time, the input, from -> to, the attempt and what it sent. Without `--type` every registered
  type is searched; an id found in several asks for `--type`.
- `saga resume ID [--type T]`: resumes a PARKED instance (its compensation runs again with fresh attempts) by
  appending a control message to the saga's queue, so it is serialised with the instance's events.
- `demo order-to-cash --orders N --seed S [--faults RATE] [--in-flight K]`: the example end to end
  (sagas.examples.order_to_cash.demo), printing its JSON summary; exit 0 when every check holds, else 1.

An unknown id exits 9 (NOT_FOUND); resuming an instance that is not parked exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import RedisError

from router import redis_client
from router.delivery.queues import message_fields
from router.embedded_redis import router_redis_url
from router.extensions import CliCommand
from router.keys import Keys
from router.redis_client import AnyRedis
from router.settings import Settings, redact_url
from router.startup import ExitCode, StartupError
from sagas.instance import PARKED, STATUSES
from sagas.runtime import control_message
from sagas.view import InstanceStatus, SagaView

__all__ = ["COMMANDS", "format_status"]

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _when(ms: int) -> str:
    if not ms:
        return "-"
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}Z"


def _run(work: Callable[[SagaView, argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    url = router_redis_url(settings)

    async def main() -> int:
        client = redis_client.connect(url, socket_connect_timeout=3)
        try:
            return await work(SagaView(client, settings.key_prefix), args)
        except (RedisError, OSError) as err:
            raise StartupError(ExitCode.REDIS, [f"the Redis at {redact_url(url)} failed: {err}"]) from err
        finally:
            await client.aclose()

    return asyncio.run(main())


def _print_json(value: Any) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


# saga list ----------------------------------------------------------------------------------------------------
async def _list(view: SagaView, args: argparse.Namespace) -> int:
    if args.state and args.state.upper() not in STATUSES and args.type is not None:
        described = (await view.types()).get(args.type)
        names = {s["name"] for s in described["states"]} if described else set()
        if described is not None and args.state not in names:
            print(f"switchboard: saga type {args.type} has no state or status {args.state!r}", file=sys.stderr)
            return int(ExitCode.USAGE)
    listed = await view.listing(args.type, args.state, limit=args.limit + 1)
    more = len(listed) > args.limit
    listed = listed[: args.limit]
    if args.json:
        _print_json(
            [
                {
                    "type": item.saga,
                    "id": item.entry.id,
                    "status": item.entry.status,
                    "state": item.entry.state,
                    "version": item.entry.version,
                    "created_ms": item.entry.created_ms,
                    "updated_ms": item.entry.updated_ms,
                }
                for item in listed
            ]
        )
        return 0
    print(f"{'TYPE':<20} {'ID':<28} {'STATUS':<13} {'STATE':<24} UPDATED")
    statuses: dict[str, int] = {}
    for item in listed:
        entry = item.entry
        statuses[entry.status] = statuses.get(entry.status, 0) + 1
        print(f"{item.saga:<20} {entry.id:<28} {entry.status:<13} {entry.state:<24} {_when(entry.updated_ms)}")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none"
    print(f"{len(listed)}{'+' if more else ''} instances: {summary}" + (f" (first {args.limit} shown)" if more else ""))
    return 0


# saga status --------------------------------------------------------------------------------------------------
def format_status(found: InstanceStatus) -> str:
    """The text `switchboard saga status` prints."""
    instance = found.instance
    lines = [
        f"{instance.saga} {instance.id}",
        f"  status   {instance.status}",
        f"  state    {instance.state}",
        f"  started  {_when(instance.created_ms)}",
        f"  updated  {_when(instance.updated_ms)} (version {instance.version})",
    ]
    if instance.data:
        lines.append(f"  data     {orjson.dumps(instance.data).decode()}")
    if instance.steps:
        lines.append("steps")
        for name, record in instance.steps.items():
            started, ended = int(record.get("started_ms") or 0), int(record.get("ended_ms") or 0)
            took = f" ({(ended - started) / 1000:.3f} s)" if started and ended else ""
            lines.append(
                f"  {name:<14} {record.get('status', '?'):<12} attempts {record.get('attempts', 0):<3} "
                f"{_when(started)} -> {_when(ended)}{took}"
            )
    if instance.timers:
        lines.append("timers")
        for name, timer in sorted(instance.timers.items(), key=lambda t: t[1].due_ms):
            lines.append(f"  {name:<14} due {_when(timer.due_ms)}")
    if found.outbox:
        lines.append(f"outbox   {found.outbox} message(s) committed, not yet dispatched")
    lines.append("history")
    for entry in found.history:
        moved = f"{entry['from']} -> {entry['to']}" if "from" in entry else f"in {entry.get('state', '?')}"
        attempt = f" attempt {entry['attempt']}" if int(entry.get("attempt") or 1) > 1 else ""
        outcome = "" if entry.get("outcome", "applied") == "applied" else f" [{entry['outcome']}]"
        sent = ", ".join(str(s.get("type", "?")) for s in entry.get("sent", []))
        lines.append(
            f"  {_when(int(entry.get('at') or 0))}  {entry.get('input', '?')}: {moved}{attempt}{outcome}"
            + (f"; sent {sent}" if sent else "")
        )
        lines.extend(f"      note: {note}" for note in entry.get("notes", []))
    return "\n".join(lines)


async def _one(view: SagaView, args: argparse.Namespace) -> InstanceStatus | int:
    found = await view.find(args.id, args.type)
    if not found:
        where = f"saga type {args.type}" if args.type else "any saga type"
        print(f"switchboard: no instance {args.id!r} in {where}", file=sys.stderr)
        return int(ExitCode.NOT_FOUND)
    if len(found) > 1:
        types = ", ".join(sorted(i.saga for i in found))
        print(f"switchboard: {args.id!r} is an instance of several saga types ({types}): use --type", file=sys.stderr)
        return int(ExitCode.USAGE)
    status = await view.status(found[0].saga, args.id)
    assert status is not None
    return status


async def _status(view: SagaView, args: argparse.Namespace) -> int:
    found = await _one(view, args)
    if isinstance(found, int):
        return found
    if args.json:
        _print_json(found.to_json())
    else:
        print(format_status(found))
    return 0


async def _resume(view: SagaView, args: argparse.Namespace) -> int:
    found = await _one(view, args)
    if isinstance(found, int):
        return found
    instance = found.instance
    if instance.status != PARKED:
        print(
            f"switchboard: {instance.saga} {instance.id} is {instance.status} ({instance.state}), not PARKED: "
            "only a parked instance can be resumed",
            file=sys.stderr,
        )
        return int(ExitCode.USAGE)
    if found.definition is None:
        print(f"switchboard: saga type {instance.saga} is not registered", file=sys.stderr)
        return int(ExitCode.NOT_FOUND)
    queue = Keys(view.keys.prefix).queue(str(found.definition["queue"]))
    redis: AnyRedis = view.redis
    fields: Any = message_fields(
        f"resume-{instance.id}-{instance.version}", control_message(instance.saga, instance.id, "resume")
    )
    await redis.xadd(queue, fields)
    print(f"switchboard: asked {instance.saga} {instance.id} to resume (in {instance.state})")
    return 0


# demo ---------------------------------------------------------------------------------------------------------
def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate: use a number from 0 to 1 (0.1 = 10% of orders)")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _run_demo(args: argparse.Namespace) -> int:
    from sagas.examples.order_to_cash.demo import main

    return main(args)


# parsers ------------------------------------------------------------------------------------------------------
def _add_saga(commands: _Subparsers, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("saga", parents=[common], help="where is this order? list and inspect sagas")
    sub = parser.add_subparsers(dest="saga_command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", parents=[common], help="one line per saga instance")
    listing.add_argument("--type", default=None, metavar="T", help="one saga type only")
    listing.add_argument("--state", default=None, metavar="S", help="a status (completed, PARKED) or a state name")
    listing.add_argument("--limit", type=_positive, default=1000, metavar="N", help="at most N lines (1000)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    for verb, text in (("status", "one instance: state, steps, timers and history"), ("resume", "resume a parked one")):
        one = sub.add_parser(verb, parents=[common], help=text)
        one.add_argument("id", metavar="ID", help="the correlation id (e.g. the order id)")
        one.add_argument("--type", default=None, metavar="T", help="the saga type (default: search every type)")
        if verb == "status":
            one.add_argument("--json", action="store_true", help="print JSON")


def _add_demo(commands: _Subparsers, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("demo", parents=[common], help="run an example end to end")
    sub = parser.add_subparsers(dest="demo_command", required=True, metavar="EXAMPLE")
    o2c = sub.add_parser(
        "order-to-cash",
        parents=[common],
        help="the order-to-cash saga with its services and injected faults; prints a JSON summary",
        description="Runs the router, the saga, the services and the shop on the embedded Redis (or REDIS_URL).",
    )
    o2c.add_argument("--orders", type=_positive, default=100, metavar="N", help="orders to submit (100)")
    o2c.add_argument("--seed", type=int, default=1, metavar="S", help="the plan's random seed (1)")
    o2c.add_argument("--faults", type=_rate, default=0.0, metavar="RATE", help="share of orders with a fault (0)")
    o2c.add_argument("--in-flight", type=_positive, default=100, metavar="K", help="unfinished orders at once (100)")


_SAGA = {"list": _list, "status": _status, "resume": _resume}

COMMANDS = (
    CliCommand("saga", _add_saga, lambda args: _run(_SAGA[args.saga_command], args)),
    CliCommand("demo", _add_demo, _run_demo),
)
