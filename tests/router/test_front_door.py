"""The front door of a real `switchboard serve` (uvicorn with router.front_door's protocol) under many idle, slow
and oversized connections: bounded in number (503 beyond), in time (408 at the header and body deadlines) and in
header size (431), with one process or `--workers 2`, while the router's own Redis calls keep working, clients that
go away mid-body are no error, and nothing is logged with a traceback."""

from __future__ import annotations

import contextlib
import os
import resource
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from router.startup import ExitCode
from tests.conftest import RedisClusterNodes, free_port
from tests.router._serve import SWITCHBOARD, ServeProcess, parse_metrics
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

CAP = 20
PUT_EVENTS = b"POST / HTTP/1.1\r\nHost: t\r\nX-Amz-Target: AWSEvents.PutEvents\r\n"
ENTRY = {"Source": "front.door", "DetailType": "t", "Detail": "{}"}


@pytest.fixture
def server(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServeProcess]:
    monkeypatch.setenv("SWITCHBOARD_MAX_CONNECTIONS", str(CAP))
    monkeypatch.setenv("SWITCHBOARD_HEADER_TIMEOUT_S", "1.5")
    monkeypatch.setenv("SWITCHBOARD_BODY_TIMEOUT_S", "1.5")
    monkeypatch.setenv("SWITCHBOARD_KEEP_ALIVE_TIMEOUT_S", "1")
    process = ServeProcess(tmp_path, redis_url).wait_ready()
    try:
        yield process
    finally:
        process.stop()
        assert "Traceback" not in process.log(), process.log()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(10)
    return sock


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def client_sockets(pid: int, port: int) -> int:
    """The accepted (not listening) TCP sockets on `port` that process `pid` holds: its clients' connections, and
    nothing else it may open meanwhile (a Redis connection for a background task, a log file)."""
    on_port: set[str] = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
        if local_port == port and state != "0A":  # 0A: LISTEN
            on_port.add(f"socket:[{inode}]")
    held = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed meanwhile
            held += os.readlink(f"/proc/{pid}/fd/{fd}") in on_port
    return held


def refused(server: ServeProcess, reason: str) -> float:
    samples = parse_metrics(httpx.get(f"{server.url}/metrics", timeout=10).text)
    return samples[("switchboard_front_door_refused_total", (("reason", reason),))]


def test_connections_beyond_the_cap_get_503_and_the_routers_redis_is_never_starved(server: ServeProcess) -> None:
    with httpx.Client(timeout=10) as client:  # one kept-alive connection, made before the flood
        assert server.put_events(client, [ENTRY])["FailedEntryCount"] == 0
        idle = [connect(server.port) for _ in range(CAP - 1)]  # the cap, with the client's connection
        flood = [connect(server.port) for _ in range(200)]
        answers = [answer(sock) for sock in flood]
        assert all(a.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") for a in answers), answers[0]
        assert b'"__type":"ServiceUnavailableException"' in answers[0]
        assert b"The router is serving its limit of 20 connections; retry the request." in answers[0]
        # The client sockets the router holds are bounded by the cap, so its Redis connections still work:
        assert 1 <= client_sockets(server.proc.pid, server.port) <= CAP  # 1: the client's own connection
        assert server.put_events(client, [ENTRY] * 10)["FailedEntryCount"] == 0
        # Idle connections are closed at the header deadline, silently, and the door opens again.
        started = time.monotonic()
        assert [answer(sock) for sock in idle] == [b""] * len(idle)
        assert time.monotonic() - started < 10
        for sock in idle + flood:
            sock.close()
        assert server.put_events(client, [ENTRY])["FailedEntryCount"] == 0
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
    assert refused(server, "connection_limit") == 200
    assert refused(server, "header_timeout") >= len(idle)


def test_slow_bodies_and_slow_headers_get_408_at_their_deadlines(server: ServeProcess) -> None:
    slow_bodies = [connect(server.port) for _ in range(CAP // 2)]
    for sock in slow_bodies:
        sock.sendall(PUT_EVENTS + b"Content-Length: 1000\r\n\r\n" + b'{"Entries": [')  # and then nothing
    slow_headers = [connect(server.port) for _ in range(CAP // 2 - 1)]
    for sock in slow_headers:
        sock.sendall(PUT_EVENTS + b"Content-Type: application/x-amz-json-1.1\r\n")  # headers never end
    started = time.monotonic()
    bodies = [answer(sock) for sock in slow_bodies]
    headers = [answer(sock) for sock in slow_headers]
    assert time.monotonic() - started < 10
    assert all(a.startswith(b"HTTP/1.1 408 Request Timeout\r\n") for a in bodies + headers), bodies[0]
    assert b"The request body did not arrive within 1.5 s." in bodies[0]
    assert b"The request headers did not arrive within 1.5 s." in headers[0]
    for sock in slow_bodies + slow_headers:
        sock.close()
    assert refused(server, "body_timeout") == len(slow_bodies)
    assert refused(server, "header_timeout") == len(slow_headers)
    # The handlers saw the clients go away mid-body: counted as 499, never as a 500, logged without a traceback.
    samples = parse_metrics(httpx.get(f"{server.url}/metrics", timeout=10).text)
    statuses = {
        dict(labels)["status"]: value
        for (name, labels), value in samples.items()
        if name == "switchboard_requests_total" and dict(labels)["operation"] == "PutEvents"
    }
    assert statuses == {"499": len(slow_bodies)}


def test_oversized_headers_get_431_whether_they_trickle_or_arrive_at_once(server: ServeProcess) -> None:
    at_once = connect(server.port)
    at_once.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    trickled = connect(server.port)
    trickled.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 40_000)
    eventually_sync(lambda: refused(server, "headers_too_large") == 1, what="the first 431")
    trickled.sendall(b"a" * 30_000)
    for sock in (at_once, trickled):
        reply = answer(sock)
        assert reply.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), reply[:100]
        assert b"The request headers are larger than 65536 bytes." in reply
        sock.close()
    assert "Invalid HTTP request" not in server.log()


def test_an_idle_kept_alive_connection_is_closed(server: ServeProcess) -> None:
    sock = connect(server.port)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
    reply = answer(sock)  # served, then closed after the 1 s keep-alive timeout
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    sock.close()


def _limited(soft: int) -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, soft))


def test_a_connection_cap_above_the_descriptor_limit_is_refused_at_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run(
        [str(SWITCHBOARD), "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env={**env, "SWITCHBOARD_MAX_CONNECTIONS": "1000"},
        preexec_fn=lambda: _limited(512),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == ExitCode.RESOURCES
    assert done.stderr.splitlines() == [
        "switchboard: SWITCHBOARD_MAX_CONNECTIONS=1000 needs 2093 file descriptors (1093 are kept for Redis, outbound "
        "HTTP and files), but this process may open 512: raise the limit (ulimit -n 2093, LimitNOFILE=2093 in a "
        "systemd unit, --ulimit nofile=2093 for docker), or lower SWITCHBOARD_MAX_CONNECTIONS to 0"
    ]
    assert not (tmp_path / ".switchboard").exists()


def test_a_bigger_redis_pool_is_kept_out_of_the_client_budget(tmp_path: Path) -> None:
    """The Redis part of the reserve grows with SWITCHBOARD_REDIS_MAX_CONNECTIONS (300 + 128 + 1 instead of 161 on the
    embedded redis-server), so a cap that fits with the default pool does not once the pool could take the
    descriptors the clients would hold."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run(
        [str(SWITCHBOARD), "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env={**env, "SWITCHBOARD_MAX_CONNECTIONS": "1000", "SWITCHBOARD_REDIS_MAX_CONNECTIONS": "300"},
        preexec_fn=lambda: _limited(2300),  # the default pool needs 2093: it would fit
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == ExitCode.RESOURCES, done.stderr
    assert done.stderr.startswith(
        "switchboard: SWITCHBOARD_MAX_CONNECTIONS=1000 needs 2361 file descriptors (1361 are kept for Redis, outbound "
        "HTTP and files), but this process may open 2300: "
    ), done.stderr
    assert done.stderr.rstrip().endswith("or lower SWITCHBOARD_MAX_CONNECTIONS to 939")


@contextlib.contextmanager
def _serving_with_few_descriptors(tmp_path: Path, redis_url: str, soft: int) -> Iterator[tuple[int, str]]:
    """`switchboard serve` on `redis_url` with RLIMIT_NOFILE `soft` and the default cap: (its port, the warning line
    it writes first), once it serves; it must stop cleanly."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SWITCHBOARD_MAX_CONNECTIONS")}
    port = free_port()
    proc = subprocess.Popen(
        [str(SWITCHBOARD), "serve", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path,
        env={**env, "REDIS_URL": redis_url},
        preexec_fn=lambda: _limited(soft),  # noqa: PLW1509 - the child sets its own limit before exec
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert proc.stderr.readline().startswith(f"switchboard: serving on http://127.0.0.1:{port}"), first
        yield port, first
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_the_default_cap_is_lowered_to_fit_a_small_descriptor_limit(
    tmp_path: Path, redis_url: str, redis_kind: str
) -> None:
    """The reserve follows the topology at REDIS_URL: 1,093 descriptors with one redis-server, 1,255 with the
    3-master cluster (each master's node pool, 2 x 32, and one long-poll reader per node)."""
    fits = 1500 - (1093 if redis_kind == "single" else 1255)
    with _serving_with_few_descriptors(tmp_path, redis_url, 1500) as (_, first):
        assert f"serving at most {fits} client connections (not 1024): this process may open 1500 file" in first


def test_the_redis_reserve_grows_with_the_masters_of_a_bigger_cluster(tmp_path: Path) -> None:
    """Five masters (more than any fixed guess): the Redis part of the reserve is 5 x 64 + 128 + 5 = 453, so the
    1,500 descriptors leave 1500 - 1385 = 115 client connections, and every master is pinged by /health."""
    (tmp_path / "cluster").mkdir()
    cluster = RedisClusterNodes(tmp_path / "cluster", masters=5)
    try:
        with _serving_with_few_descriptors(tmp_path, cluster.url, 1500) as (port, first):
            assert "serving at most 115 client connections (not 1024): this process may open 1500 file" in first
            assert "and 1385 are kept for Redis" in first
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
            assert health.status_code == 200, health.text
            assert len(health.json()["masters"]) == 5
    finally:
        cluster.stop()


def test_a_client_that_goes_away_mid_body_is_499_in_every_protocol_and_never_logged(server: ServeProcess) -> None:
    """A client that closes its connection mid-body (not timed out: gone) is no error of the router, whichever
    protocol it spoke: status 499 in switchboard_requests_total, no 5xx, no log line (the fixture checks no
    traceback was written)."""
    partial = b"Content-Length: 1000\r\n\r\n" + b'{"Entries": ['
    requests = [
        PUT_EVENTS + partial,
        b"POST / HTTP/1.1\r\nHost: t\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\n" + partial,
        b"POST /schedules/s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" + partial,
        b"POST /v1/registries/name/r HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" + partial,
    ]
    for request in requests:
        sock = connect(server.port)
        sock.sendall(request)
        sock.close()

    def statuses() -> dict[str, float] | None:
        counted: dict[str, float] = {}
        for (name, labels), value in server.metrics().items():
            if name == "switchboard_requests_total":
                status = dict(labels)["status"]
                counted[status] = counted.get(status, 0) + value
        return counted if sum(counted.values()) >= len(requests) else None

    assert eventually_sync(statuses, what="the four requests counted") == {"499": len(requests)}
    assert " 500 " not in server.log()
    assert "ERROR" not in server.log(), server.log()


def _two_children(pid: int) -> list[int] | None:
    children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return children if len(children) == 2 else None


def test_with_workers_each_process_holds_at_most_its_cap_and_keeps_its_redis(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --workers 2`: every worker process has the front door's limits (the cap, the deadlines), so a flood of
    idle connections holds at most 2 x cap of them, the rest get 503, and each worker's own Redis calls keep
    working."""
    monkeypatch.setenv("SWITCHBOARD_MAX_CONNECTIONS", str(CAP))
    monkeypatch.setenv("SWITCHBOARD_HEADER_TIMEOUT_S", "4")
    server = ServeProcess(tmp_path, redis_url, "--workers", "2").wait_ready()
    try:
        workers = eventually_sync(lambda: _two_children(server.proc.pid), what="two worker processes")
        with httpx.Client(timeout=10) as client:  # one kept-alive connection to one of the workers
            assert server.put_events(client, [ENTRY])["FailedEntryCount"] == 0
            flood = [connect(server.port) for _ in range(3 * CAP)]
            held_at_most = 2 * CAP - 1  # the client's connection counts in its worker's cap

            def answered() -> list[socket.socket] | None:
                readable, _, _ = select.select(flood, [], [], 0.1)
                return readable if len(readable) >= len(flood) - held_at_most else None

            eventually_sync(answered, what="the connections beyond the caps answered")
            held = {pid: client_sockets(pid, server.port) for pid in workers}
            assert all(count <= CAP for count in held.values()), held  # each worker's client sockets: at most its cap
            assert sum(held.values()) >= 1, held  # the client's own connection, at least
            assert server.put_events(client, [ENTRY] * 10)["FailedEntryCount"] == 0  # its Redis is not starved
            # Each flood connection is refused, or held and closed at the header deadline. The kernel may spread them
            # unevenly over the two workers, so refusals can still be arriving when enough of them have: classify
            # every connection by its whole answer rather than by what was readable at one moment.
            started = time.monotonic()
            answers = [answer(sock) for sock in flood]
            assert time.monotonic() - started < 10
            refusals = [reply for reply in answers if reply]
            assert all(reply.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") for reply in refusals)
            assert len(answers) - len(refusals) <= held_at_most
            for sock in flood:
                sock.close()
        for _ in range(4):  # new connections reach both workers again
            assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.log()
