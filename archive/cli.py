"""`switchboard archive list|export|import` and `switchboard replay start|list|describe|cancel` (router.extensions
`Extension.cli`).

They talk to the router's Redis directly, as `switchboard queue` does: `REDIS_URL`, or else the embedded Redis of a
`switchboard serve` running in this directory; the key prefix comes from the usual settings (router.settings).
Each command acts in the settings' home namespace, or in the account and region `--account`/`--region` name
(router.namespace_options). Replays started here run in the background of the router processes, like StartReplay's.

- `archive list` prints one line per archive: name, bus, state, EventCount, SizeBytes, RetentionDays.
- `archive export NAME [--from T1] [--to T2]` prints the archived envelopes of the window (inclusive; RFC 3339 or
  epoch seconds; default: everything), one JSON object per line, in event-time order, byte for byte as stored.
- `archive import NAME FILE` (`-` for stdin) stores envelopes, one JSON object per line, into an archive (moving
  history between deployments; beyond AWS). Each must be an object with a readable `time`; importing the same
  envelope twice stores it once. Bad lines are reported with their line number and nothing of them is stored.
- `replay start --archive A --from T1 --to T2 --bus B [--rules R1,R2] [--speed X] [--name N] [--wait]`; `--wait`
  shows a progress bar (rich) until the replay ends and prints a summary.
- `replay list`, `replay describe NAME`, `replay cancel NAME` print JSON.

An AWS-shaped failure (an unknown archive, an invalid window, ...) prints `switchboard: CODE: message` and exits 9
(NOT_FOUND) for ResourceNotFoundException, else 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson
import redis.asyncio as aioredis

from archive import codec
from archive.api import OPERATIONS as ARCHIVE_OPERATIONS
from archive.replay_api import OPERATIONS as REPLAY_OPERATIONS
from archive.replay_api import replay_store, start_replay
from archive.replays import FINAL_STATES
from archive.runner import window_ms
from archive.store import archive_store
from router import redis_client
from router.arns import Arns
from router.embedded_redis import router_redis_url
from router.errors import ServiceError
from router.extensions import CliCommand
from router.keys import Keys
from router.namespace import entered
from router.namespace_options import chosen, namespace_options
from router.settings import Settings, redact_url
from router.startup import ExitCode, StartupError
from router.state import AppState

__all__ = ["COMMANDS", "parse_time"]

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

_IMPORT_BATCH = 500
_EXPORT_PAGE = 1000


def parse_time(text: str) -> float:
    """Epoch seconds from RFC 3339 (`2024-05-06T07:08:09Z`) or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    ms = codec.parse_time_ms(text)
    if ms is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use RFC 3339 (2024-05-06T07:08:09Z) or epoch seconds"
        )
    return ms / 1000


def _run(work: Callable[[AppState, argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    url = router_redis_url(settings)

    async def main() -> int:
        client = redis_client.connect(url, socket_connect_timeout=3)
        state = AppState(settings=settings, redis=client, keys=Keys(settings.key_prefix))
        try:
            with entered(chosen(args, settings)):
                return await work(state, args)
        except ServiceError as err:
            print(f"switchboard: {err.code}: {err.message}", file=sys.stderr)
            return int(ExitCode.NOT_FOUND if err.code == "ResourceNotFoundException" else ExitCode.USAGE)
        except (aioredis.RedisError, OSError) as err:
            raise StartupError(ExitCode.REDIS, [f"the Redis at {redact_url(url)} failed: {err}"]) from err
        finally:
            await client.aclose()

    return asyncio.run(main())


def _print(value: Any, out: TextIO | None = None) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode(), file=out or sys.stdout)


# archive ------------------------------------------------------------------------------------------------------------
async def _archive_list(state: AppState, args: argparse.Namespace) -> int:
    answer: Any = await ARCHIVE_OPERATIONS["ListArchives"](state, {"Limit": 100})
    archives = list(answer["Archives"])
    while answer.get("NextToken"):
        answer = await ARCHIVE_OPERATIONS["ListArchives"](state, {"Limit": 100, "NextToken": answer["NextToken"]})
        archives += answer["Archives"]
    print(f"{'NAME':<30} {'BUS':<24} {'STATE':<14} {'EVENTS':>10} {'BYTES':>14} RETENTION")
    for archive in archives:
        bus = str(archive["EventSourceArn"]).rsplit("/", 1)[-1]
        days = archive.get("RetentionDays") or 0
        retention = f"{days} days" if days else "forever"
        print(
            f"{archive['ArchiveName']:<30} {bus:<24} {archive['State']:<14} {archive['EventCount']:>10} "
            f"{archive['SizeBytes']:>14} {retention}"
        )
    return 0


def _bounds(args: argparse.Namespace) -> tuple[bytes, bytes]:
    start_ms, end_ms = window_ms(
        args.start if args.start is not None else -(2**53) / 1000,
        args.end if args.end is not None else (2**53) / 1000,
    )
    return codec.time_min(start_ms), codec.time_max(end_ms)


async def _archive_export(state: AppState, args: argparse.Namespace) -> int:
    store = archive_store(state)
    record = await store.require(args.name)
    low, high = _bounds(args)
    out = sys.stdout.buffer
    exported = 0
    while True:
        members = await store.read(record, low, high, _EXPORT_PAGE)
        dictionaries = await store.dictionaries(record, members)
        for member in members:
            out.write(codec.decode(member, dictionaries).event + b"\n")
        exported += len(members)
        if len(members) < _EXPORT_PAGE:
            break
        low = codec.after_key(codec.key_of(members[-1]))
    out.flush()
    print(f"switchboard: exported {exported} events from archive {args.name}", file=sys.stderr)
    return 0


async def _archive_import(state: AppState, args: argparse.Namespace) -> int:
    store = archive_store(state)
    record = await store.require(args.name)
    source: Any = args.source
    read = added = 0
    problems: list[str] = []
    members: list[bytes] = []
    sizes: list[int] = []
    dictionary = await store.newest_dictionary(record)
    try:
        for number, line in enumerate(source, start=1):
            event = line.rstrip(b"\r\n")
            if not event.strip():
                continue
            read += 1
            problem = _import_problem(event)
            if problem is not None:
                problems.append(f"line {number}: {problem}")
                continue
            time_ms = codec.event_time_ms(event)
            assert time_ms is not None
            members.append(codec.encode(event, time_ms, 0, codec.import_seq(event), dictionary))
            sizes.append(len(event))
            if len(members) >= _IMPORT_BATCH:
                added += await store.add_events(record, members, sizes)
                members, sizes = [], []
        added += await store.add_events(record, members, sizes)
    finally:
        if source is not sys.stdin.buffer:
            source.close()  # opened by _open_import
    for problem in problems[:20]:
        print(f"switchboard: {problem}", file=sys.stderr)
    print(
        f"switchboard: imported {added} new events into archive {args.name} "
        f"({read} read, {read - len(problems) - added} already there, {len(problems)} refused)",
        file=sys.stderr,
    )
    return 0 if not problems else int(ExitCode.USAGE)


def _import_problem(event: bytes) -> str | None:
    try:
        parsed = orjson.loads(event)
    except orjson.JSONDecodeError as err:
        return f"not JSON ({err})"
    if not isinstance(parsed, dict):
        return "not a JSON object"
    if codec.event_time_ms(event) is None:
        return "no readable `time` (RFC 3339)"
    if len(event) > 1_048_576:
        return "over 1 MiB"
    return None


# replay -------------------------------------------------------------------------------------------------------------
async def _replay_start(state: AppState, args: argparse.Namespace) -> int:
    arns = Arns(state.region, state.account_id)
    name = args.name or f"{args.archive}-{int(time.time())}"
    destination: dict[str, Any] = {"Arn": arns.bus(args.bus)}
    if args.rules:
        destination["FilterArns"] = [arns.rule(args.bus, rule) for rule in args.rules.split(",") if rule]
    body = {
        "ReplayName": name,
        "EventSourceArn": f"arn:aws:events:{state.region}:{state.account_id}:archive/{args.archive}",
        "EventStartTime": args.start,
        "EventEndTime": args.end,
        "Destination": destination,
    }
    started = await start_replay(state, body, speed=args.speed)
    if not args.wait:
        _print({"ReplayName": name, **started})
        return 0
    return await _wait(state, name, args)


async def _wait(state: AppState, name: str, args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    store = replay_store(state)
    record = await store.require(name)
    archive = await archive_store(state).require(record["ArchiveName"])
    total = await archive_store(state).count_between(
        archive, codec.time_min(record["WindowStartMs"]), codec.time_max(record["WindowEndMs"])
    )
    started = time.monotonic()
    with Progress(
        TextColumn(f"replay {name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
    ) as progress:
        bar = progress.add_task("replay", total=max(total, 1))
        while True:
            (current,) = await store.states([record])
            progress.update(bar, completed=min(current.appended, total) if total else 1)
            if current.state in FINAL_STATES:
                break
            await asyncio.sleep(args.poll)
    elapsed = time.monotonic() - started
    rate = current.appended / elapsed if elapsed > 0 else 0.0
    reason = f" ({current.reason})" if current.reason else ""
    print(
        f"replay {name}: {current.state}{reason}: {current.appended} of {total} events appended in {elapsed:.1f} s "
        f"({rate:,.0f} events/s) into bus {record['DestinationBus']}"
    )
    return 0 if current.state == "COMPLETED" else 1


async def _replay_list(state: AppState, args: argparse.Namespace) -> int:
    _print(await REPLAY_OPERATIONS["ListReplays"](state, {"Limit": 100}))
    return 0


async def _replay_describe(state: AppState, args: argparse.Namespace) -> int:
    _print(await REPLAY_OPERATIONS["DescribeReplay"](state, {"ReplayName": args.name}))
    return 0


async def _replay_cancel(state: AppState, args: argparse.Namespace) -> int:
    _print(await REPLAY_OPERATIONS["CancelReplay"](state, {"ReplayName": args.name}))
    return 0


# parsers ------------------------------------------------------------------------------------------------------------
def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a speed: use a positive factor (2 = twice the pace)")
    return value


def _add_archive(commands: _Subparsers, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("archive", parents=[common], help="list, export and import archived events")
    sub = parser.add_subparsers(dest="archive_command", required=True, metavar="COMMAND")
    ns = namespace_options()
    sub.add_parser("list", parents=[common, ns], help="one line per archive")
    export = sub.add_parser("export", parents=[common, ns], help="print an archive's events as JSON lines")
    export.add_argument("name", metavar="NAME")
    export.add_argument("--from", dest="start", type=parse_time, default=None, metavar="T1")
    export.add_argument("--to", dest="end", type=parse_time, default=None, metavar="T2")
    imported = sub.add_parser("import", parents=[common, ns], help="store JSON-lines envelopes into an archive")
    imported.add_argument("name", metavar="NAME")
    imported.add_argument("file", metavar="FILE", help="the JSON-lines file, or - for stdin")


def _add_replay(commands: _Subparsers, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("replay", parents=[common], help="start, follow and cancel replays")
    sub = parser.add_subparsers(dest="replay_command", required=True, metavar="COMMAND")
    ns = namespace_options()
    start = sub.add_parser("start", parents=[common, ns], help="replay an archive's window into a bus")
    start.add_argument("--archive", required=True, metavar="A")
    start.add_argument("--from", dest="start", type=parse_time, required=True, metavar="T1")
    start.add_argument("--to", dest="end", type=parse_time, required=True, metavar="T2")
    start.add_argument("--bus", required=True, metavar="B", help="the destination: a bus of the namespace")
    start.add_argument("--rules", default=None, metavar="R1,R2", help="deliver to these rules of the bus only")
    start.add_argument("--speed", type=_speed, default=None, metavar="X", help="original pacing x X (default: fast)")
    start.add_argument("--name", default=None, metavar="N", help="the replay's name (default ARCHIVE-EPOCH)")
    start.add_argument("--wait", action="store_true", help="show progress until the replay ends")
    start.add_argument("--poll", type=float, default=0.5, help=argparse.SUPPRESS)
    sub.add_parser("list", parents=[common, ns], help="every replay of the namespace, as JSON")
    for verb in ("describe", "cancel"):
        one = sub.add_parser(verb, parents=[common, ns], help=f"{verb} one replay")
        one.add_argument("name", metavar="NAME")


_ARCHIVE = {"list": _archive_list, "export": _archive_export, "import": _archive_import}


def _run_archive(args: argparse.Namespace) -> int:
    if args.archive_command == "import":
        try:
            args.source = sys.stdin.buffer if str(args.file) == "-" else Path(args.file).open("rb")  # noqa: SIM115
        except OSError as err:
            raise StartupError(ExitCode.NOT_FOUND, [f"cannot read {args.file}: {err.strerror}"]) from err
    return _run(_ARCHIVE[args.archive_command], args)


_REPLAY = {"start": _replay_start, "list": _replay_list, "describe": _replay_describe, "cancel": _replay_cancel}

COMMANDS = (
    CliCommand("archive", _add_archive, _run_archive),
    CliCommand("replay", _add_replay, lambda args: _run(_REPLAY[args.replay_command], args)),
)
