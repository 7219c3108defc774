"""The extension seams archive/ and schemas/ plug into: internal targets (the delivery sink hands their events to
the extension) and CLI commands (router.cli adds and runs them)."""

from __future__ import annotations

import argparse

import pytest

from router import cli
from router.extensions import (
    CliCommand,
    Extension,
    ExtensionError,
    InternalDelivery,
    internal_target_arn,
    internal_target_kind,
    merge_cli,
    merge_internal_targets,
)


def test_internal_target_arns_round_trip() -> None:
    arn = internal_target_arn("archive", "orders/abc", "us-east-1", "123456789012")
    assert arn == "arn:aws:events:us-east-1:123456789012:internal/archive/orders/abc"
    assert internal_target_kind(arn) == ("archive", "orders/abc")
    assert internal_target_kind("arn:aws:sqs:us-east-1:123456789012:q") is None
    assert internal_target_kind("arn:aws:events:us-east-1:1:internal/") is None
    assert internal_target_kind("arn:aws:events:us-east-1:1:event-bus/b") is None


def test_an_internal_kind_declared_twice_is_refused() -> None:
    def handler(delivery: InternalDelivery) -> list[tuple[str | bytes | int, ...]]:
        return []

    a, b = Extension("a", internal_targets={"k": handler}), Extension("b", internal_targets={"k": handler})
    with pytest.raises(ExtensionError, match="kind k is declared by both a and b"):
        merge_internal_targets([a, b])
    assert merge_internal_targets([a]) == {"k": handler}


def _command(name: str, ran: list[argparse.Namespace]) -> CliCommand:
    def add(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
        parser = commands.add_parser(name, parents=[common], help=f"the {name} command")
        parser.add_argument("--times", type=int, default=1)

    def run(args: argparse.Namespace) -> int:
        ran.append(args)
        return 7

    return CliCommand(name, add, run)


def test_cli_commands_clash_with_the_routers_or_each_other() -> None:
    ran: list[argparse.Namespace] = []
    with pytest.raises(ExtensionError, match="command serve is declared by both router and x"):
        merge_cli(cli.BUILTIN_COMMANDS, [Extension("x", cli=[_command("serve", ran)])])
    one, two = Extension("x", cli=[_command("hello", ran)]), Extension("y", cli=[_command("hello", ran)])
    with pytest.raises(ExtensionError, match="command hello is declared by both x and y"):
        merge_cli((), [one, two])


def test_the_cli_adds_and_runs_extension_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[argparse.Namespace] = []
    commands = {"hello": _command("hello", ran)}
    monkeypatch.setattr(cli, "_extension_commands", lambda: commands)
    assert cli.main(["hello", "--times", "3"]) == 7
    assert ran[0].times == 3
    with pytest.raises(SystemExit):
        cli.main(["nothing-like-it"])


def test_every_builtin_command_is_listed_as_reserved() -> None:
    parser = cli._parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(cli.BUILTIN_COMMANDS)
