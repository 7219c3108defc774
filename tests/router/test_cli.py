"""The `switchboard` command: `serve` with its own embedded, persistent redis-server (started and stopped with the
router, data under `.switchboard/` in the working directory), and `config validate`."""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from router.cli import _parser, main
from router.embedded_redis import URL_FILE, router_redis_url
from router.settings import Settings
from router.startup import ExitCode
from tests.conftest import RedisServer
from tests.router._serve import SWITCHBOARD, ServeProcess, bus_count, wait_for

REPO = Path(__file__).resolve().parents[2]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _embedded_port(log: str) -> int:
    match = re.search(r"embedded redis-server at redis://127\.0\.0\.1:(\d+)/0", log)
    assert match is not None, log
    return int(match.group(1))


@pytest.mark.integration
def test_serve_without_redis_url_runs_and_stops_its_own_persistent_redis(tmp_path: Path) -> None:
    first = ServeProcess(tmp_path, None)
    try:
        first.wait_ready()
        port = _embedded_port(first.log())
        assert _port_open(port)
        url_file = tmp_path / ".switchboard" / "redis" / "redis.url"
        assert url_file.read_text().strip() == f"redis://127.0.0.1:{port}/0"  # for `switchboard queue ...`
        with httpx.Client(timeout=10) as client:
            result = first.put_events(client, [{"Source": "cli.test", "DetailType": "t", "Detail": "{}"}] * 3)
        assert result["FailedEntryCount"] == 0
        assert wait_for(lambda: bus_count(first.metrics(), "switchboard_ingested_events_total", "default") == 3, 10)
    finally:
        assert first.stop() == 0
    assert not _port_open(port), "the embedded redis-server outlived the router"
    assert not url_file.exists()
    data = tmp_path / ".switchboard" / "redis"
    assert (data / "appendonlydir").is_dir()

    second = ServeProcess(tmp_path, None)  # the same working directory: the same data
    try:
        second.wait_ready()
        assert bus_count(second.metrics(), "switchboard_ingested_events_total", "default") == 3
        # A second router on the same data directory is refused instead of corrupting it.
        refused = subprocess.run(  # noqa: PLW1510 - the exit code is what the test checks
            [str(SWITCHBOARD), "serve", "--port", "1"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert refused.returncode == ExitCode.REDIS
        assert "is in use by another switchboard process" in refused.stderr
    finally:
        assert second.stop() == 0
    assert not _port_open(_embedded_port(second.log()))


def test_config_validate_accepts_the_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", str(REPO / "config")]) == 0
    assert "OK" in capsys.readouterr().out


def test_config_validate_reports_a_bad_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("buses: [{Name: 'bad name!'}]\n")
    assert main(["config", "validate", str(tmp_path)]) == ExitCode.CONFIG_INVALID
    assert "bad.yaml" in capsys.readouterr().out


@pytest.mark.integration
def test_serve_with_an_invalid_config_starts_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("buses: [{Name: 'bad name!'}]\n")
    result = subprocess.run(  # noqa: PLW1510 - the exit code is what the test checks
        [str(SWITCHBOARD), "serve", "--port", "1", "--config", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == ExitCode.CONFIG_INVALID
    assert "is not valid" in result.stderr
    assert not (tmp_path / ".switchboard").exists()


def test_usage_errors_exit_with_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--fsync", "sometimes"])
    assert exc.value.code == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert re.fullmatch(r"switchboard \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.extend(_parsers(sub))
    return found


def test_every_argument_of_every_command_has_help_and_the_program_is_switchboard() -> None:
    parsers = _parsers(_parser())
    # switchboard, serve, config, config validate, queue, queue read, queue tail, ingest, ingest parked, ingest redrive,
    # health-check
    assert len(parsers) == 11
    for parser in parsers:
        assert parser.prog.split()[0] == "switchboard", parser.prog
        for action in parser._actions:
            assert action.help, f"{parser.prog}: {action.option_strings or action.dest} has no help"
            assert not re.search(r"router\.\w", action.help), f"{parser.prog}: internal module in {action.help}"
        assert not re.search(r"router\.\w", parser.description or ""), parser.description


@pytest.mark.parametrize("command", [["archive", "list"], ["saga", "list"]])
def test_the_tools_that_read_the_routers_redis_say_when_there_is_none(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`switchboard archive ...` and `switchboard saga ...` find the Redis the same way (router.embedded_redis
    `router_redis_url`): REDIS_URL, else a running embedded redis-server of this data directory, else exit 6."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path / "data"))
    assert main(command) == ExitCode.REDIS
    assert capsys.readouterr().err == (
        "switchboard: no Redis: set REDIS_URL to the router's Redis, or run this where `switchboard serve` runs its "
        "own\n"
    )


@pytest.mark.integration
def test_the_tools_find_the_embedded_redis_of_a_running_serve(tmp_path: Path, redis_server: RedisServer) -> None:
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / URL_FILE).write_text(redis_server.url + "\n")
    assert router_redis_url(Settings(data_dir=tmp_path)) == redis_server.url
    assert router_redis_url(Settings(data_dir=tmp_path, redis_url="redis://elsewhere:1/0")) == "redis://elsewhere:1/0"
