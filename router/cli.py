"""The `switchboard` command: `serve` runs the router, `config validate DIR` checks config files, `queue read NAME`
and `queue tail NAME` print a queue target's messages, `ingest parked BUS` and `ingest redrive BUS` show and re-drive
the events the router parked (router.ingest_cli), `health-check ID healthy|unhealthy` fails global endpoints over
(router.health_cli). Installed extensions add their own subcommands through
`router.extensions.Extension.cli` (e.g. `switchboard archive ...` and `switchboard replay ...` from `archive/`).

`switchboard serve [--host H] [--port N] [--config DIR] [--fsync always|everysec]` uses the Redis at `REDIS_URL`,
or, when it is unset, starts its own persistent redis-server (`router.embedded_redis`) with its data under
`.switchboard/` in the working directory, and stops it on exit. The start-up sequence is `router.serve`'s.

Every expected failure (a bad variable or flag, config files with problems, a port in use, a Redis that is not
there, an unknown queue) is a `router.startup.StartupError` or `SettingsError`: this module prints it as one line
per problem, prefixed `switchboard: `, and exits with its class's code (`router.startup.ExitCode`, listed in
docs/operations.md). No traceback is printed for those; `--debug` prints it. An unexpected error prints one line
and exits 1 (`--debug` for its traceback).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from router.extensions import CliCommand
from router.faults import QuietFaults
from router.settings import Settings, SettingsError, unused_variables
from router.startup import ExitCode, StartupError

log = logging.getLogger("switchboard")

PROG = "switchboard"


def _version() -> str:
    try:
        return importlib.metadata.version("switchboard")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a tree that is not installed
        return "unknown"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number: use an integer from 0 (any free) to 65535")
    return port


def _count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return count


def _extension_commands() -> dict[str, CliCommand]:
    """The installed extensions' subcommands (router.extensions `Extension.cli`)."""
    from router.extensions import installed, merge_cli

    return merge_cli(BUILTIN_COMMANDS, installed())


BUILTIN_COMMANDS = ("serve", "config", "queue", "ingest", "health-check")


def _parser(extra: Sequence[CliCommand] = ()) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="print tracebacks of failures too"
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Switchboard: an event router that speaks Amazon EventBridge's API.",
        epilog="Exit codes and settings: docs/operations.md.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do")

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="run the router (HTTP on 127.0.0.1:4010 by default)",
        description=(
            "Run the router. With REDIS_URL unset, it runs its own redis-server with its data under .switchboard/."
        ),
    )
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1, or SWITCHBOARD_HOST)")
    serve.add_argument(
        "--port", type=_port, default=None, help="port to listen on (default 4010, or SWITCHBOARD_PORT; 0: any free)"
    )
    serve.add_argument(
        "--config", type=Path, default=None, metavar="DIR", help="apply the config files (*.yaml) in DIR at start"
    )
    serve.add_argument(
        "--fsync",
        choices=("always", "everysec"),
        default="always",
        help="embedded Redis only: fsync the AOF before every answer (always, default) or once a second",
    )
    serve.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error"), help="log level (default info)"
    )
    serve.add_argument(
        "--workers", type=_count, default=1, metavar="N", help="router processes on the one port (default 1)"
    )

    config = commands.add_parser("config", parents=[common], help="check config files", description="Config files.")
    config_commands = config.add_subparsers(
        dest="config_command", required=True, metavar="COMMAND", help="what to do with them"
    )
    validate = config_commands.add_parser(
        "validate",
        parents=[common],
        help="check a config directory without starting anything",
        description="Check every config file in DIR; print one `file: path: reason` line per problem.",
    )
    validate.add_argument("dir", type=Path, metavar="DIR", help="the directory of *.yaml config files")

    queue = commands.add_parser(
        "queue",
        parents=[common],
        help="look into a queue target's messages",
        description=(
            "Print the messages a queue target (or a dead-letter queue) received, without consuming them. Reads the "
            "Redis at REDIS_URL, or the embedded one of a `switchboard serve` in this directory."
        ),
    )
    queue_commands = queue.add_subparsers(dest="queue_command", required=True, metavar="COMMAND", help="how to look")
    read = queue_commands.add_parser(
        "read", parents=[common], help="print the queue's oldest messages, one JSON object per line"
    )
    read.add_argument("name", metavar="NAME", help="the queue: the last part of its arn:aws:sqs:REGION:ACCOUNT:NAME")
    read.add_argument("--count", type=_count, default=100, help="print at most this many messages (default 100)")
    read.add_argument("--after", default=None, metavar="ID", help="start after this message id (the `id` printed)")
    tail = queue_commands.add_parser("tail", parents=[common], help="print new messages as they arrive (Ctrl-C stops)")
    tail.add_argument("name", metavar="NAME", help="the queue: the last part of its arn:aws:sqs:REGION:ACCOUNT:NAME")
    tail.add_argument("--from-start", action="store_true", help="first print the messages already there")

    from router import health_cli, ingest_cli

    ingest_cli.add_commands(commands, common)
    health_cli.add_commands(commands, common)
    for command in extra:
        command.add(commands, common)
    return parser


def _load_config(directory: Path, settings: Settings) -> object:
    from router.config import ConfigError, load_dir
    from router.namespace_options import home

    try:
        config = load_dir(directory, home(settings))
    except ConfigError as err:
        count = len(err.problems)
        lines = [f"the config in {directory} is not valid ({count} problem{'s' if count != 1 else ''}):"]
        lines.extend(str(problem) for problem in err.problems)
        raise StartupError(ExitCode.CONFIG_INVALID, lines) from err
    for warning in config.warnings:
        log.warning("config: %s", warning)
    return config


def _serve(args: argparse.Namespace) -> int:
    from router.serve import ServeOptions, serve

    settings = Settings.from_env(host=args.host, port=args.port, config_dir=args.config)
    for name in unused_variables():
        log.warning("%s is set but is not a Switchboard setting (docs/operations.md lists them)", name)
    config = _load_config(settings.config_dir, settings) if settings.config_dir is not None else None
    serve(settings, config, ServeOptions(fsync=args.fsync, log_level=args.log_level, workers=args.workers))
    return ExitCode.OK


def _run(args: argparse.Namespace, extra: dict[str, CliCommand]) -> int:
    if args.command in extra:
        return extra[args.command].run(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "queue":
        from router import queue_cli

        if args.queue_command == "read":
            return queue_cli.read_command(args.name, args.count, args.after)
        return queue_cli.tail_command(args.name, args.from_start)
    if args.command == "ingest":
        from router import ingest_cli

        return ingest_cli.run(args)
    if args.command == "health-check":
        from router import health_cli

        return health_cli.run(args)
    from router.config import validate_command
    from router.namespace_options import home

    # The home namespace (SWITCHBOARD_ACCOUNT_ID, SWITCHBOARD_REGION) is where files that name none are.
    return validate_command(args.dir, home=home(Settings.from_env()))


def main(argv: Sequence[str] | None = None) -> int:
    extra = _extension_commands()
    args = _parser(list(extra.values())).parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    level = getattr(args, "log_level", "info")
    _configure_logging(level.upper())
    try:
        return int(_run(args, extra))
    except SettingsError as err:
        return _fail(ExitCode.SETTINGS, err.problems, err, debug)
    except StartupError as err:
        return _fail(err.code, err.lines, err, debug)
    except KeyboardInterrupt:
        return ExitCode.OK
    except Exception as err:
        line = f"internal error: {type(err).__name__}: {err} (a bug: run again with --debug for the traceback)"
        return _fail(ExitCode.INTERNAL, [line], err, debug)


def _configure_logging(level: str) -> None:
    """Log to stderr through router.faults.QuietFaults (storage faults: no tracebacks, a few lines a second).
    Handlers someone else installed (an embedding program, pytest) are left as they are."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(QuietFaults())
        root.addHandler(handler)
    root.setLevel(level)


def _fail(code: ExitCode, lines: Sequence[str], err: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(err, file=sys.stderr)
    for line in lines:
        print(f"{PROG}: {line}", file=sys.stderr)
    sys.stderr.flush()
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
