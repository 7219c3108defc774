"""Start-up failures: each is one line per problem naming the variable or flag and the fix, the exit code of its
class, and no traceback (unless `--debug`). The subprocess tests run the real `switchboard` command."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from router.cli import main
from router.startup import ExitCode, StartupError, bind_socket, check_redis
from tests.conftest import free_port
from tests.router._serve import SWITCHBOARD, ServeProcess
from tests.router.conftest import Api

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def listener() -> Iterator[int]:
    """A port something already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def in_use(port: int) -> str:
    return (
        f"port {port} on 127.0.0.1 is in use (another switchboard, or another program, listens there): stop it, or "
        "choose another port with --port N or SWITCHBOARD_PORT=N"
    )


def refused(port: int) -> str:
    return (
        f"cannot connect to the Redis at REDIS_URL=redis://127.0.0.1:{port}/0 (Error 111 connecting to "
        f"127.0.0.1:{port}. Connection refused.): start Redis there, correct REDIS_URL, or unset REDIS_URL to let "
        "switchboard run its own redis-server"
    )


def stored(client: redis.Redis) -> dict[bytes, bytes]:
    """Every key's DUMP, but the ingest streams (the `api` fixture's worker changes their consumer-group state)."""
    keys: list[bytes] = client.keys("*")  # type: ignore[assignment]
    return {key: client.dump(key) for key in keys if not key.endswith(b":ingest")}  # type: ignore[misc]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("SWITCHBOARD_")}
    return subprocess.run(
        [str(SWITCHBOARD), *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- in process ---------------------------------------------------------------------------------------------------


def test_bind_socket_reports_a_port_in_use(listener: int) -> None:
    with pytest.raises(StartupError) as info:
        bind_socket("127.0.0.1", listener)
    assert (info.value.code, info.value.lines) == (ExitCode.ADDRESS, (in_use(listener),))


def test_bind_socket_reports_an_address_of_another_machine() -> None:
    with pytest.raises(StartupError) as info:
        bind_socket("192.0.2.1", 4010)  # TEST-NET-1: never an address of this machine
    assert info.value.lines == (
        "cannot serve on 192.0.2.1:4010: 192.0.2.1 is not an address of this machine; choose another with --host / "
        "SWITCHBOARD_HOST and --port / SWITCHBOARD_PORT",
    )


def test_bind_socket_listens_before_anything_serves() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname(), timeout=2):
            pass  # accepted into the backlog: the port is ours before the app starts
    finally:
        sock.close()


def test_check_redis_names_redis_url_and_the_fix() -> None:
    port = free_port()
    with pytest.raises(StartupError) as info:
        check_redis(f"redis://127.0.0.1:{port}/0")
    assert (info.value.code, info.value.lines) == (ExitCode.REDIS, (refused(port),))


def test_bad_variables_are_all_reported_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWITCHBOARD_PORT", "xyz")
    monkeypatch.setenv("REDIS_URL", "notaurl")
    assert main(["serve"]) == ExitCode.SETTINGS
    assert capsys.readouterr().err.splitlines() == [
        "switchboard: SWITCHBOARD_PORT=xyz: not a port number; use an integer from 0 to 65535, or unset it for 4010",
        "switchboard: REDIS_URL=notaurl: not a Redis URL (it must start with redis://, rediss:// or unix://); use "
        "redis://HOST:PORT/DB (rediss:// for TLS, unix:///path/to/redis.sock), or unset it to run an embedded "
        "redis-server",
    ]
    assert not (tmp_path / ".switchboard").exists()


def test_a_bad_port_flag_is_a_usage_error_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", "70000"])
    assert info.value.code == ExitCode.USAGE
    assert capsys.readouterr().err.splitlines()[-1] == (
        "switchboard serve: error: argument --port: '70000' is not a port number: use an integer from 0 (any free) "
        "to 65535"
    )


def test_operations_doc_lists_every_exit_code() -> None:
    text = (REPO / "docs" / "operations.md").read_text()
    documented = {int(code): name for code, name in re.findall(r"^\| (\d+) \| `(\w+)` \|", text, re.M)}
    assert documented == {code.value: code.name for code in ExitCode}


# -- the real command ---------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_redis_url_pointing_at_nothing(tmp_path: Path) -> None:
    redis_port, port = free_port(), free_port()
    done = run(["serve", "--port", str(port)], tmp_path, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
    assert (done.returncode, done.stdout) == (ExitCode.REDIS, "")
    assert done.stderr.splitlines() == [f"switchboard: {refused(redis_port)}"]


@pytest.mark.integration
def test_a_port_in_use_is_reported_before_redis_or_the_app_start(tmp_path: Path, listener: int) -> None:
    done = run(["serve", "--port", str(listener)], tmp_path)
    assert done.returncode == ExitCode.ADDRESS
    assert done.stderr.splitlines() == [f"switchboard: {in_use(listener)}"]
    assert not (tmp_path / ".switchboard").exists(), "the embedded Redis was started before the port was bound"


@pytest.mark.integration
def test_debug_adds_the_traceback(tmp_path: Path, listener: int) -> None:
    done = run(["serve", "--debug", "--port", str(listener)], tmp_path)
    assert done.returncode == ExitCode.ADDRESS
    assert done.stderr.startswith("Traceback (most recent call last):")
    assert done.stderr.splitlines()[-1] == f"switchboard: {in_use(listener)}"


@pytest.mark.integration
async def test_a_config_the_stored_state_refuses_is_refused_before_any_write(
    tmp_path: Path, redis_url: str, api: Api
) -> None:
    """Three targets added over the API, which config keeps, plus three declared: too many, so nothing is written."""
    await api.ok("PutRule", {"Name": "r", "EventPattern": '{"source": ["a"]}'})
    queues = [{"Id": f"api-{i}", "Arn": f"arn:aws:sqs:us-east-1:123456789012:q{i}"} for i in range(3)]
    await api.ok("PutTargets", {"Rule": "r", "Targets": queues})
    (tmp_path / "cfg").mkdir()
    declared = "".join(f"      - {{Id: cfg-{i}, Arn: 'arn:aws:sqs:us-east-1:123456789012:c{i}'}}\n" for i in range(3))
    (tmp_path / "cfg" / "a.yaml").write_text(
        "buses: [{name: orders}]\n"
        "rules:\n"
        "  - {name: first, bus: orders, pattern: {source: [a]}}\n"
        "  - name: r\n    pattern: {source: [a]}\n    targets:\n" + declared
    )
    client = redis.Redis.from_url(redis_url)
    before = stored(client)
    done = run(["serve", "--port", str(free_port()), "--config", "cfg"], tmp_path, REDIS_URL=redis_url)
    assert done.returncode == ExitCode.CONFIG_APPLY, done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("switchboard: ")] == [
        "switchboard: the config in cfg could not be applied:",
        "switchboard: cfg/a.yaml: rules[1].targets: the rule would have 6 targets: 3 declared here and 3 created "
        "over the API (api-0, api-1, api-2), which config keeps; a rule can have at most 5",
        "switchboard: nothing was applied: fix the problems above and start again",
    ]
    assert "Traceback" not in done.stderr
    assert stored(client) == before  # not even the bus orders
    client.close()


@pytest.mark.integration
def test_invalid_config_files_exit_4_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("buses: [{Name: 'bad name!'}]\n")
    done = run(["serve", "--port", str(free_port()), "--config", "."], tmp_path)
    assert done.returncode == ExitCode.CONFIG_INVALID
    assert done.stderr.splitlines() == [
        "switchboard: the config in . is not valid (2 problems):",
        "switchboard: bad.yaml: buses[0].Name: unknown key; allowed keys are name, description, tags",
        "switchboard: bad.yaml: buses[0].name: required key is missing",
    ]
    assert not (tmp_path / ".switchboard").exists()


@pytest.mark.integration
def test_serving_on_is_printed_once_it_serves_and_unknown_variables_are_warned(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_PROT", "4011")  # a typo of SWITCHBOARD_PORT
    server = ServeProcess(tmp_path, redis_url).wait_ready()
    try:
        log = server.log()
        assert f"switchboard: serving on http://127.0.0.1:{server.port} (Redis at {redis_url})" in log
        assert "SWITCHBOARD_PROT is set but is not a Switchboard setting" in log
        assert "Traceback" not in log
    finally:
        assert server.stop() == ExitCode.OK


@pytest.mark.integration
def test_a_data_dir_that_cannot_be_created_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    done = run(["serve", "--port", "0"], tmp_path, SWITCHBOARD_DATA_DIR="file/below-a-file")
    assert done.returncode == ExitCode.REDIS
    assert done.stderr.splitlines() == [
        f"switchboard: cannot use {tmp_path}/file/below-a-file/redis for the embedded redis-server's data (Not a "
        "directory): point SWITCHBOARD_DATA_DIR at a directory you can write, or set REDIS_URL to a running Redis"
    ]
