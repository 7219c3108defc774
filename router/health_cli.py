"""`switchboard health-check ID [healthy|unhealthy]`: the Route 53 health checks that fail global endpoints over.

A global endpoint fails over to its secondary region when the Route 53 health check of its primary reports
unhealthy (router.api.endpoints). There is no Route 53 here, so this command is where a health check's status is
set: `unhealthy` makes every endpoint whose `Primary.HealthCheck` is that check route PutEvents to its secondary
region at once, `healthy` back to the primary; a health check never set is healthy. Without a status it prints
the current one. `ID` is the health check's id or its ARN (`arn:aws:route53:::healthcheck/ID`). Each run prints
one line per endpoint that uses the check and where its events go now. It uses the Redis `switchboard queue` uses
(`REDIS_URL`, or the embedded one of a `switchboard serve` in this directory; router.cli_redis).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, TextIO

import orjson

from router.cli_redis import cli_redis
from router.startup import ExitCode
from router.store.endpoints import HEALTHY, UNHEALTHY, health_check_id

__all__ = ["add_commands", "run"]

_ID = re.compile(r"^[\-a-z0-9]+$")
"""A health check id, as the model's HealthCheck ARN pattern has it."""


def _check_id(text: str) -> str:
    found = health_check_id(text)
    if not _ID.match(found) or (text.startswith("arn:") and not re.match(r"^arn:aws([a-z]|\-)*:route53:::", text)):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Route 53 health check: give its id or arn:aws:route53:::healthcheck/ID"
        )
    return found


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `health-check` to the `switchboard` command's subparsers."""
    parser = commands.add_parser(
        "health-check",
        parents=[common],
        help="mark a global endpoint's Route 53 health check healthy or unhealthy (failover)",
        description=(
            "Set (or print) the status of a Route 53 health check. Global endpoints whose primary uses it route "
            "PutEvents to their secondary region while it is unhealthy (docs/api.md, Global endpoints)."
        ),
    )
    parser.add_argument("id", type=_check_id, metavar="ID", help="the health check id, or its ARN")
    parser.add_argument(
        "status", nargs="?", choices=("healthy", "unhealthy"), default=None, help="the new status (omit to print it)"
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    with cli_redis() as session:
        client, keys = session.client, session.keys
        if args.status is not None:
            client.hset(keys.health_checks, args.id, HEALTHY if args.status == "healthy" else UNHEALTHY)
        raw: Any = client.hget(keys.health_checks, args.id)
        status = raw.decode() if raw is not None else HEALTHY
        print(f"health check {args.id}: {status}", file=out, flush=True)
        records: Any = client.hgetall(keys.endpoints)
    using = [orjson.loads(records[name]) for name in sorted(records)]
    using = [record for record in using if record.get("HealthCheckId") == args.id]
    for record in using:
        print(_where(record, status), file=out, flush=True)
    if not using:
        print("no global endpoint uses this health check (yet)", file=out, flush=True)
    return ExitCode.OK


def _where(record: dict[str, Any], status: str) -> str:
    home = record["Arn"].split(":")[3]
    secondary = record["RoutingConfig"]["FailoverConfig"]["Secondary"]["Route"]
    region, role = (home, "primary") if status == HEALTHY else (secondary, "secondary")
    return f"endpoint {record['Name']} ({record['EndpointId']}): events go to {region} (its {role})"
