"""`switchboard config validate` refuses, in one run and without Redis, everything `switchboard serve` would refuse
when applying the same files, each as `file: path: reason`.

The cases below are each refused by the API itself when their requests are sent over the wire (the parity test),
and `serve --config` refuses the directory with the same lines; a directory validate accepts, serve applies.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from router.config import load_dir, validate_command
from router.startup import ExitCode
from tests.conftest import free_port
from tests.router._serve import SWITCHBOARD, ServeProcess
from tests.router.conftest import Api

REPO = Path(__file__).resolve().parents[2]
QUEUE = "arn:aws:sqs:us-east-1:123456789012:q"

# (rule declaration, the problems validate reports for it). Each rule is refused by PutRule or PutTargets.
CASES: list[tuple[dict[str, Any], list[str]]] = [
    (
        {
            "name": "bad-arn",
            "bus": "orders",
            "pattern": {"source": ["a"]},
            "targets": [{"Id": "t", "Arn": "not-an-arn"}],
        },
        ["rules[0].targets[0]: Parameter not-an-arn is not valid. Reason: Provided Arn is not in correct format."],
    ),
    (
        {"name": "unknown-bus", "bus": "nowhere", "pattern": {"source": ["a"]}},
        ["rules[1].bus: event bus 'nowhere' is not declared in the config; declare it in buses (in any file)"],
    ),
    (
        {
            "name": "unknown-function",
            "pattern": {"source": ["a"]},
            "targets": [{"Id": "fn", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:missing"}],
        },
        [
            "rules[2].targets[0].Arn: function missing is not declared in functions: (in any file); PutTargets refuses "
            "a function without a URL, since there is no Lambda here"
        ],
    ),
    (
        {"name": "bad-pattern", "pattern": {"source": [{"prefix": 1}]}},
        ["rules[3].pattern: Event pattern is not valid. Reason: prefix match pattern must be a string"],
    ),
    (
        {
            "name": "six-targets",
            "pattern": {"source": ["a"]},
            "targets": [{"Id": f"t{i}", "Arn": f"{QUEUE}{i}"} for i in range(6)],
        },
        ["rules[4].targets: a rule can have at most 5 targets; found 6"],
    ),
    (
        {
            "name": "two-problems-in-one-target",
            "pattern": {"source": ["a"]},
            "targets": [{"Id": "t", "Arn": "sqs:q", "Input": "not json"}],
        },
        [
            "rules[5].targets[0]: Parameter sqs:q is not valid. Reason: Provided Arn is not in correct format.",
            "rules[5].targets[0]: Input for target t is not a valid JSON text.",
        ],
    ),
    (
        {
            "name": "cloudtrail",
            "bus": "orders",
            "state": "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
            "pattern": {},
        },
        [
            "rules[6].pattern: Event pattern is not valid. Reason: Empty objects are not allowed",
            "rules[6].state: ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS is allowed on the default bus only",
        ],
    ),
]

# A second file that is fine on its own terms: it routes the bus the first file declares, and repeats one rule.
OTHER = {
    "rules": [
        {"name": "uses-orders", "bus": "orders", "pattern": {"source": ["b"]}, "targets": [{"Id": "q", "Arn": QUEUE}]},
        {"name": "bad-arn", "bus": "orders", "pattern": {"source": ["b"]}},
    ]
}
OTHER_PROBLEMS = ["rules[1].name: duplicate rule 'bad-arn' on bus 'orders'; first declared at {a}: rules[0]"]


def write_cases(directory: Path) -> tuple[Path, Path]:
    a, b = directory / "a.yaml", directory / "b.yaml"
    a.write_text(yaml.safe_dump({"buses": [{"name": "orders"}], "rules": [rule for rule, _ in CASES]}))
    b.write_text(yaml.safe_dump(OTHER))
    return a, b


def expected_lines(a: Path, b: Path) -> list[str]:
    lines = [f"{a}: {problem}" for _, problems in CASES for problem in problems]
    return lines + [f"{b}: {problem.format(a=a)}" for problem in OTHER_PROBLEMS]


def test_validate_lists_every_problem_of_every_file_in_one_run(tmp_path: Path) -> None:
    a, b = write_cases(tmp_path)
    out = io.StringIO()
    assert validate_command(tmp_path, out=out) == ExitCode.CONFIG_INVALID
    assert out.getvalue().splitlines() == expected_lines(a, b)


def test_validate_warns_about_targets_switchboard_cannot_deliver_to(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "rules:\n  - name: r\n    pattern: {source: [a]}\n"
        "    targets: [{Id: t, Arn: 'arn:aws:sns:us-east-1:123456789012:alerts'}]\n"
    )
    out = io.StringIO()
    assert validate_command(tmp_path, out=out) == ExitCode.OK
    assert out.getvalue().splitlines() == [
        f"{tmp_path / 'a.yaml'}: rules[0].targets[0].Arn: warning: Switchboard does not deliver to sns targets; every "
        "delivery to this one fails (NO_RESOURCE, to its dead-letter queue if it has one)",
        f"{tmp_path}: OK (1 files, 0 buses, 1 rules, 1 targets)",
    ]


@pytest.mark.integration
@pytest.mark.parametrize(("rule", "problems"), CASES, ids=[rule["name"] for rule, _ in CASES])
async def test_the_api_refuses_each_case_validate_refuses(api: Api, rule: dict[str, Any], problems: list[str]) -> None:
    """Parity: sent as the requests applying would make, every case is refused by the API itself."""
    await api.ok("CreateEventBus", {"Name": "orders"})
    bus = rule.get("bus", "default")
    pattern = rule["pattern"]
    put_rule = {"Name": rule["name"], "EventBusName": bus, "EventPattern": json.dumps(pattern)}
    if "state" in rule:
        put_rule["State"] = rule["state"]
    refused = (await api.call("PutRule", put_rule)).status_code != 200
    if not refused and rule.get("targets"):
        body = {"Rule": rule["name"], "EventBusName": bus, "Targets": rule["targets"]}
        refused = (await api.call("PutTargets", body)).status_code != 200
    assert refused, f"the API accepted {rule['name']}, which validate refuses: {problems}"


@pytest.mark.integration
def test_serve_refuses_the_same_directory_with_the_same_lines(tmp_path: Path) -> None:
    a, b = write_cases(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run(
        [str(SWITCHBOARD), "serve", "--port", str(free_port()), "--config", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == ExitCode.CONFIG_INVALID
    lines = done.stderr.splitlines()
    assert lines[0] == f"switchboard: the config in {tmp_path} is not valid (10 problems):"
    assert lines[1:] == [f"switchboard: {line}" for line in expected_lines(a, b)]
    assert not (tmp_path / ".switchboard").exists()


@pytest.mark.integration
def test_a_directory_validate_accepts_is_applied_by_serve(tmp_path: Path, redis_url: str) -> None:
    shutil.copytree(REPO / "config", tmp_path / "config")
    (tmp_path / "config" / "more.yaml").write_text(yaml.safe_dump({"rules": [OTHER["rules"][0]]}))
    assert validate_command(tmp_path / "config", out=io.StringIO()) == ExitCode.OK
    config = load_dir(tmp_path / "config")
    server = ServeProcess(tmp_path, redis_url, "--config", "config").wait_ready()
    try:
        assert "could not be applied" not in server.log()
        with httpx.Client(timeout=10) as client:
            for rule in config.rules:
                answer = server.call(client, "DescribeRule", {"Name": rule.name, "EventBusName": rule.bus})
                assert answer.status_code == 200, answer.text
    finally:
        assert server.stop() == ExitCode.OK
