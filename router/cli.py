"""The `switchboard` command: `serve` runs the router, `config validate DIR` checks config files, `queue read NAME`
and `queue tail NAME` print a queue target's messages (router.queue_cli).

`switchboard serve [--host H] [--port N] [--config DIR] [--fsync always|everysec]` uses the Redis at `REDIS_URL`,
or, when it is unset, starts its own persistent redis-server (`router.embedded_redis`) with its data under
`.switchboard/` in the working directory, and stops it on exit (Ctrl-C or SIGTERM: uvicorn shuts the app down
gracefully first, then Redis is stopped). The HTTP server is uvicorn with uvloop and httptools. With `--config`, the
directory is loaded and checked *before* anything starts (a bad file is reported and nothing runs), then applied
once Redis is up. Exit codes: 0 after a clean stop, 1 on a config or start-up error, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from router.settings import Settings

log = logging.getLogger("switchboard")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="An EventBridge-compatible event router.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the router (HTTP on 127.0.0.1 by default)")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, or SWITCHBOARD_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port to bind (default 4010, or SWITCHBOARD_PORT)")
    serve.add_argument("--config", type=Path, default=None, metavar="DIR", help="apply the config files in DIR")
    serve.add_argument(
        "--fsync",
        choices=("always", "everysec"),
        default="always",
        help="embedded Redis only: fsync the AOF before every answer (always, default) or once a second",
    )
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))

    config = commands.add_parser("config", help="config files")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    validate = config_commands.add_parser("validate", help="check a config directory without starting anything")
    validate.add_argument("dir", type=Path)

    queue = commands.add_parser("queue", help="look into a queue target's messages (router.queue_cli)")
    queue_commands = queue.add_subparsers(dest="queue_command", required=True)
    read = queue_commands.add_parser("read", help="print the queue's oldest messages, one JSON object per line")
    read.add_argument("name")
    read.add_argument("--count", type=int, default=100)
    read.add_argument("--after", default=None, metavar="ID", help="start after this stream entry id")
    tail = queue_commands.add_parser("tail", help="print new messages as they arrive (Ctrl-C stops)")
    tail.add_argument("name")
    tail.add_argument("--from-start", action="store_true", help="first print the messages already there")
    return parser


def _config_module() -> Any:
    try:
        import router.config as config_module
    except ModuleNotFoundError as err:
        if err.name != "router.config":
            raise
        return None
    return config_module


def _validate(directory: Path) -> int:
    config_module = _config_module()
    if config_module is None:
        print("switchboard: config support (router.config) is not part of this build", file=sys.stderr)
        return 1
    code: int = config_module.validate_command(directory)
    return code


def _load_config(directory: Path) -> tuple[int, Any]:
    config_module = _config_module()
    if config_module is None:
        print("switchboard: --config needs router.config, which is not part of this build", file=sys.stderr)
        return 1, None
    try:
        return 0, config_module.load_dir(directory)
    except config_module.ConfigError as err:
        print(f"switchboard: the config in {directory} is not valid:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1, None


class _StopRequested(Exception):
    """SIGTERM or SIGINT after uvicorn's graceful shutdown."""


def _stop_requested(signum: int, frame: object) -> None:
    raise _StopRequested


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from router.app import create_app
    from router.embedded_redis import EmbeddedRedis, EmbeddedRedisError

    settings = Settings.from_env(host=args.host, port=args.port, config_dir=args.config)
    config = None
    if settings.config_dir is not None:
        code, config = _load_config(settings.config_dir)
        if code:
            return code

    embedded: EmbeddedRedis | None = None
    if settings.redis_url is None:
        embedded = EmbeddedRedis(settings.data_dir / "redis", appendfsync=args.fsync)
        try:
            url = embedded.start()
        except EmbeddedRedisError as err:
            print(f"switchboard: {err}", file=sys.stderr)
            return 1
        settings = replace(settings, redis_url=url)
        where = f"embedded redis-server at {url}, data in {embedded.data_dir}, appendfsync {args.fsync}"
    else:
        where = f"Redis at {settings.redis_url}"
    try:
        app = create_app(settings, config=config)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                loop="uvloop",
                http="httptools",
                lifespan="on",
                log_level=args.log_level,
                access_log=False,
            )
        )
        print(f"switchboard: serving on http://{settings.host}:{settings.port} ({where})", file=sys.stderr, flush=True)
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal with the handlers that were in
        # place before it started: these turn that into a normal return, so the embedded Redis is stopped below.
        signal.signal(signal.SIGTERM, _stop_requested)
        signal.signal(signal.SIGINT, _stop_requested)
        with contextlib.suppress(_StopRequested):
            server.run()
        return 0 if server.started else 1
    finally:
        if embedded is not None:
            embedded.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        logging.getLogger().setLevel(args.log_level.upper())
        return _serve(args)
    if args.command == "queue":
        from router import queue_cli

        if args.queue_command == "read":
            return queue_cli.read_command(args.name, args.count, args.after)
        return queue_cli.tail_command(args.name, args.from_start)
    return _validate(args.dir)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
