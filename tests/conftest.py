"""Shared fixtures: a real `redis-server` and a real 3-master Redis Cluster on free ports, started once per session.

Integration tests never use a fake: they get a throwaway redis-server (or cluster) whose data lives in a temporary
directory. `redis_url` is parametrized: every test that asks for it (or for `redis_client`, or for a fixture built on
them) runs twice, `[single]` on one redis-server and `[cluster]` on a 3-master cluster (`cluster-enabled yes`,
created with `redis-cli --cluster create`), so every feature is tested on both by asking for the same fixture. The
cluster is started lazily, the first time a `[cluster]` test needs it. Each test starts from an empty database
(FLUSHALL on every master), so tests can assert exactly which keys an operation leaves behind.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

INTEGRATION_MODULE_MARK = "pytestmark = pytest.mark.integration"
"""The line that makes every test in a module an integration test (how the suite marks whole modules)."""


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In the unit tier (`-m "not integration"`, exactly), skip importing test modules whose every test is an
    integration test: `-m` would deselect all of them anyway, and importing them (with assertion rewriting) costs
    about a second of the tier's budget. Any other mark expression, and a run naming no `-m`, collects everything, so
    the integration tier still imports (and reports errors in) each of these modules."""
    markexpr = " ".join(str(config.getoption("markexpr", "")).split())
    if markexpr != "not integration" or not collection_path.name.startswith("test_"):
        return None
    if collection_path.suffix != ".py" or not collection_path.is_file():
        return None
    with collection_path.open(encoding="utf-8") as module:
        if any(line.rstrip() == INTEGRATION_MODULE_MARK for line in module):
            return True
    return None


SOAK_MARK = "soak"
"""Load and soak tests (minutes each): run only when the `-m` expression names `soak` (`make soak`)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect `soak` tests unless the `-m` expression names the mark: `-m integration` (CI's integration tier)
    and `-m "not integration"` both leave them out, `-m soak` runs them (README, "The soak tier")."""
    if re.search(rf"\b{SOAK_MARK}\b", str(config.getoption("markexpr", ""))):
        return
    kept = [item for item in items if item.get_closest_marker(SOAK_MARK) is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker(SOAK_MARK)])
        items[:] = kept


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_args(exe: str, port: int, data_dir: Path, *, appendonly: bool) -> list[str]:
    """redis-server's arguments: 127.0.0.1:`port`, data in `data_dir`, no RDB snapshots, AOF on or off."""
    return [
        exe,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--logfile",
        "redis.log",
    ]


class RedisServer:
    """A redis-server child process on 127.0.0.1 with its data in `data_dir`."""

    def __init__(self, data_dir: Path, *, appendonly: bool = False, port: int | None = None) -> None:
        """`port` None picks a free one; a given port restarts a stopped server where its clients expect it."""
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed: run `make test`, which installs it")
        self.port = free_port() if port is None else port
        self.data_dir = data_dir
        args = server_args(exe, self.port, data_dir, appendonly=appendonly)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        client = redis.Redis.from_url(self.url)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def flush(self) -> None:
        client = redis.Redis.from_url(self.url)
        client.flushall()
        client.close()


class RedisClusterNodes:
    """A real Redis Cluster on 127.0.0.1: `masters` redis-servers with `cluster-enabled yes`, each with `replicas`
    replicas, joined by `redis-cli --cluster create`. `url` names the first master (the router finds the rest)."""

    def __init__(self, data_dir: Path, *, masters: int = 3, replicas: int = 0, appendonly: bool = False) -> None:
        exe = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if exe is None or cli is None:
            raise RuntimeError("redis-server and redis-cli are needed: run `make test`, which installs them")
        self.data_dir = data_dir
        self.ports: list[int] = []
        self.bus_ports: dict[int, int] = {}
        """Each node's cluster bus port (`cluster-port`: a free port, not port + 10000, which may be taken)."""
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        try:
            for _ in range(masters * (1 + replicas)):
                self.start_node(free_port(), appendonly=appendonly)
            nodes = [f"127.0.0.1:{port}" for port in self.ports]
            subprocess.run(
                [cli, "--cluster", "create", *nodes, "--cluster-replicas", str(replicas), "--cluster-yes"],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=60,
            )
            self.wait_ok(masters * (1 + replicas))
        except BaseException:
            self.stop()
            raise
        self.url = f"redis://127.0.0.1:{self.ports[0]}/0"

    def start_node(self, port: int, *, appendonly: bool = False) -> None:
        exe = shutil.which("redis-server")
        assert exe is not None
        node_dir = self.data_dir / str(port)
        node_dir.mkdir(exist_ok=True)
        args = server_args(exe, port, node_dir, appendonly=appendonly)
        args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"]
        args += ["--cluster-replica-validity-factor", "0"]  # a replica may always take over (a busy machine lags)
        args += ["--cluster-port", str(self.bus_ports.setdefault(port, free_port()))]
        args += ["--repl-diskless-sync-delay", "0"]  # replicas sync at once (the default waits 5 s)
        self.procs[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if port not in self.ports:
            self.ports.append(port)
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.procs[port].poll() is not None:
                        raise RuntimeError(f"redis-server (cluster node) did not start on port {port}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def wait_ok(self, nodes: int, timeout_s: float = 30.0) -> None:
        """Until every running node says `cluster_state:ok` and knows all `nodes` nodes, and every replica is in
        sync with its master (a replica that never synced cannot take over)."""
        deadline = time.monotonic() + timeout_s
        while True:
            states = []
            for port, proc in self.procs.items():
                if proc.poll() is not None:
                    continue
                client = redis.Redis(port=port)
                try:
                    info = client.cluster("info")
                    replication = client.info("replication")
                    synced = replication["role"] == "master" or replication.get("master_link_status") == "up"
                    states.append(
                        info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) >= nodes and synced
                    )
                except redis.RedisError:
                    states.append(False)
                finally:
                    client.close()
            if states and all(states):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def masters(self) -> list[int]:
        """Ports of the running masters."""
        found = []
        for port, proc in self.procs.items():
            if proc.poll() is not None:
                continue
            client = redis.Redis(port=port)
            try:
                if client.info("replication")["role"] == "master":
                    found.append(port)
            except redis.RedisError:
                pass
            finally:
                client.close()
        return found

    def flush(self) -> None:
        for port in self.masters():
            client = redis.Redis(port=port)
            try:
                client.flushall()
            finally:
                client.close()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


REDIS_KINDS = ("single", "cluster")
"""The values `redis_url` is parametrized with."""


class _Servers:
    """The session's servers, started on first use."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.single: RedisServer | None = None
        self.cluster: RedisClusterNodes | None = None

    def get(self, kind: str) -> RedisServer | RedisClusterNodes:
        if kind == "single":
            if self.single is None:
                self.single = RedisServer(self.factory.mktemp("redis"))
            return self.single
        if self.cluster is None:
            self.cluster = RedisClusterNodes(self.factory.mktemp("redis-cluster"))
        return self.cluster

    def stop(self) -> None:
        if self.single is not None:
            self.single.stop()
        if self.cluster is not None:
            self.cluster.stop()


@pytest.fixture(scope="session")
def _redis_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Servers]:
    servers = _Servers(tmp_path_factory)
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def redis_server(_redis_servers: _Servers) -> RedisServer:
    """The session's single redis-server (for tests that need exactly that one; most ask for `redis_url`)."""
    server = _redis_servers.get("single")
    assert isinstance(server, RedisServer)
    return server


@pytest.fixture(params=REDIS_KINDS)
def redis_kind(request: pytest.FixtureRequest) -> str:
    """`single` or `cluster`: which Redis this run of the test uses."""
    kind: str = request.param
    return kind


@pytest.fixture
def redis_url(_redis_servers: _Servers, redis_kind: str) -> str:
    """The URL of the session's redis-server or cluster (see the module doc), emptied for this test."""
    server = _redis_servers.get(redis_kind)
    server.flush()
    return server.url


def sync_client(url: str) -> Any:
    """A synchronous redis-py client for `url`, a cluster client when it is a cluster."""
    from router.redis_client import is_cluster

    if is_cluster(url):
        return redis.RedisCluster.from_url(url)
    return redis.Redis.from_url(url)


async def all_keys(client: Any, match: str = "*") -> set[bytes]:
    """Every key (matching `match`) on a single Redis or on every master of a cluster."""
    return {key if isinstance(key, bytes) else str(key).encode() async for key in client.scan_iter(match=match)}


@pytest.fixture
async def redis_client(redis_url: str, redis_kind: str) -> AsyncIterator[aioredis.Redis]:
    """An asyncio redis-py client on `redis_url` (a RedisCluster on the cluster: it has the same commands)."""
    client: Any
    if redis_kind == "cluster":
        client = aioredis.RedisCluster.from_url(redis_url)
    else:
        client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(autouse=True)
def _single_slot_scripts_and_transactions(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Fail any integration test in which the router sent a Lua script or a transaction over more than one hash slot
    (tests/slot_check.py), whatever Redis the test runs on. (Unit tests send nothing; some pack made-up commands.)"""
    if request.node.get_closest_marker("integration") is None:
        yield
        return
    from router.redis_client import _HiredisPacking
    from tests import slot_check

    pack_command = _HiredisPacking.pack_command
    pack_commands = _HiredisPacking.pack_commands

    def checked_command(self: Any, *args: Any) -> list[bytes]:
        if args and slot_check._name(args[0]) in (b"EVAL", b"EVALSHA"):
            slot_check.record([args])
        return pack_command(self, *args)

    def checked_commands(self: Any, commands: Any) -> list[bytes]:
        commands = [tuple(command) for command in commands]
        slot_check.record(commands)
        return pack_commands(self, commands)

    slot_check.FOUND.clear()
    monkeypatch.setattr(_HiredisPacking, "pack_command", checked_command)
    monkeypatch.setattr(_HiredisPacking, "pack_commands", checked_commands)
    yield
    found, slot_check.FOUND[:] = list(slot_check.FOUND), []
    assert not found, f"cross-slot scripts or transactions: {found}"


@pytest.fixture(autouse=True)
def _no_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's real AWS settings out of the tests."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def run_cli(
    redis_url: str | None,
    *args: str,
    stdin: str | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
    columns: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """`switchboard ARGS` as a subprocess of this tree (REDIS_URL set to `redis_url` when given, COLUMNS to
    `columns`), output as text."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    if columns is not None:
        env["COLUMNS"] = str(columns)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "router.cli", *args],
        check=False,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
