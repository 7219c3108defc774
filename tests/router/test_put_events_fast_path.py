"""The EventBridge fast path of a real `switchboard serve` (router.app: `POST /` with `X-Amz-Target: AWSEvents.*`
goes to the dispatcher's raw ASGI app before starlette's middleware and routes) answers byte for byte what the
starlette path answers (the same request at another path, which starlette routes to the same service), on every
error path too; and the front door writes each response in one piece, on kept-alive connections as well.

The starlette path is the one every other request takes; the head both send is pinned here as it was before the
fast path existed (status line, then date, server, content-length, content-type, x-amzn-requestid)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.router._serve import ServeProcess, serving

pytestmark = pytest.mark.integration

ENTRY = {"Source": "fast.path", "DetailType": "t", "Detail": '{"n": 1}'}


@pytest.fixture
def served(tmp_path: Path, redis_url: str) -> Iterator[ServeProcess]:
    with serving(tmp_path, redis_url, 1) as (process,):
        yield process
    assert "Traceback" not in process.log(), process.log()


def _request(path: str, target: str | None, body: bytes, *, extra: bytes = b"", close: bool = True) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-amz-json-1.1\r\n".encode()
    if target is not None:
        head += f"X-Amz-Target: {target}\r\n".encode()
    if b"transfer-encoding" not in extra.lower():
        head += b"Content-Length: %d\r\n" % len(body)
    if close:
        head += b"Connection: close\r\n"
    return head + extra + b"\r\n" + body


def _exchange(port: int, request: bytes) -> bytes:
    """Everything the server answers to `request` on a new connection, until it closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _normalized(answer: bytes) -> bytes:
    """The answer without what differs between any two answers: the date, the request id, event ids, times."""
    answer = re.sub(rb"\r\ndate: [^\r]*", b"\r\ndate: D", answer)
    answer = re.sub(rb"\r\nx-amzn-requestid: [0-9a-f-]{36}\r\n", b"\r\nx-amzn-requestid: R\r\n", answer)
    answer = re.sub(rb'"EventId":"[0-9a-f-]{36}"', b'"EventId":"E"', answer)
    return re.sub(rb'Time":[0-9.]+', b'Time":T', answer)


def _chunked(body: bytes, size: int) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


PUT = "AWSEvents.PutEvents"
TWO_ENTRIES = orjson.dumps({"Entries": [ENTRY, {**ENTRY, "EventBusName": "no-such-bus"}]})
CASES: dict[str, tuple[str | None, bytes, bytes]] = {
    "accepted": (PUT, orjson.dumps({"Entries": [ENTRY] * 10}), b""),
    "per-entry failures": (PUT, orjson.dumps({"Entries": [{**ENTRY, "Detail": "[1]"}, {}, ENTRY]}), b""),
    "unknown bus": (PUT, TWO_ENTRIES, b""),
    "no entries": (PUT, b'{"Entries": []}', b""),
    "eleven entries": (PUT, orjson.dumps({"Entries": [ENTRY] * 11}), b""),
    "wrong member type": (PUT, b'{"Entries": [{"Source": 5}]}', b""),
    "not json": (PUT, b"{nope", b""),
    "not an object": (PUT, b"[1, 2]", b""),
    "empty body": (PUT, b"", b""),
    "too large declared": (PUT, b"", b"Content-Length: 99999999\r\n"),
    "chunked body": (PUT, _chunked(orjson.dumps({"Entries": [ENTRY] * 3}), 7), b"Transfer-Encoding: chunked\r\n"),
    "hop bound": (PUT, orjson.dumps({"Entries": [ENTRY]}), b"X-Switchboard-Hops: 999\r\n"),
    "hops below the bound": (PUT, orjson.dumps({"Entries": [ENTRY]}), b"X-Switchboard-Hops: 1\r\n"),
    "unknown operation": ("AWSEvents.Nope", b"{}", b""),
    "empty operation": ("AWSEvents.", b"{}", b""),
    "modelled, not served": ("AWSEvents.CreateEndpoint", b'{"Name": "x"}', b""),
    "control plane": ("AWSEvents.ListEventBuses", b"{}", b""),
    "no output": ("AWSEvents.DeleteRule", b'{"Name": "none"}', b""),
    "invalid input": ("AWSEvents.PutRule", b'{"Name": "bad name!"}', b""),
}


def _answer(port: int, path: str, case: str) -> bytes:
    target, body, extra = CASES[case]
    if extra.startswith(b"Content-Length"):  # a declared length over the limit, with no body sent
        return _exchange(port, _request(path, target, b"").replace(b"Content-Length: 0\r\n", extra))
    return _exchange(port, _request(path, target, body, extra=extra))


def test_the_fast_path_answers_byte_for_byte_what_the_starlette_path_answers(served: ServeProcess) -> None:
    for case in CASES:
        fast, slow = _answer(served.port, "/", case), _answer(served.port, "/x", case)
        assert _normalized(fast) == _normalized(slow), case
        head, _, payload = fast.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        names = [line.split(b":", 1)[0] for line in lines[1:]]
        assert names == [b"date", b"server", b"content-length", b"content-type", b"x-amzn-requestid", b"connection"]
        assert b"content-type: application/x-amz-json-1.1" in lines, case
        assert f"content-length: {len(payload)}".encode() in lines, case


PINNED = {
    "accepted": b"HTTP/1.1 200 OK\r\ndate: D\r\nserver: uvicorn\r\ncontent-length: 544\r\n"
    b"content-type: application/x-amz-json-1.1\r\nx-amzn-requestid: R\r\nconnection: close\r\n\r\n"
    b'{"FailedEntryCount":0,"Entries":[' + b",".join([b'{"EventId":"E"}'] * 10) + b"]}",
    "no entries": b"HTTP/1.1 400 Bad Request\r\ndate: D\r\nserver: uvicorn\r\ncontent-length: 178\r\n"
    b"content-type: application/x-amz-json-1.1\r\nx-amzn-requestid: R\r\nconnection: close\r\n\r\n"
    b'{"__type":"ValidationException","message":"1 validation error detected: Value \'[]\' at \'entries\' failed to '
    b'satisfy constraint: Member must have length greater than or equal to 1"}',
    "not json": b"HTTP/1.1 400 Bad Request\r\ndate: D\r\nserver: uvicorn\r\ncontent-length: 79\r\n"
    b"content-type: application/x-amz-json-1.1\r\nx-amzn-requestid: R\r\nconnection: close\r\n\r\n"
    b'{"__type":"SerializationException","message":"Request body is not valid JSON."}',
    "unknown bus": b"HTTP/1.1 200 OK\r\ndate: D\r\nserver: uvicorn\r\ncontent-length: 182\r\n"
    b"content-type: application/x-amz-json-1.1\r\nx-amzn-requestid: R\r\nconnection: close\r\n\r\n"
    b'{"FailedEntryCount":1,"Entries":[{"EventId":"E"},'
    b'{"ErrorCode":"ResourceNotFoundException","ErrorMessage":"Event bus no-such-bus does not exist."}]}',
    "unknown operation": b"HTTP/1.1 400 Bad Request\r\ndate: D\r\nserver: uvicorn\r\ncontent-length: 84\r\n"
    b"content-type: application/x-amz-json-1.1\r\nx-amzn-requestid: R\r\nconnection: close\r\n\r\n"
    b'{"__type":"UnknownOperationException","message":"Unknown operation AWSEvents.Nope."}',
    "no output": b"HTTP/1.1 200 OK\r\ndate: D\r\nserver: uvicorn\r\ncontent-length: 0\r\n"
    b"content-type: application/x-amz-json-1.1\r\nx-amzn-requestid: R\r\nconnection: close\r\n\r\n",
}
"""What the router answered before the fast path existed (through starlette's Request and Response objects),
captured from main at 9ee1fa8 and normalized: both paths must still answer exactly this."""


def test_both_paths_answer_what_the_router_answered_before_the_fast_path(served: ServeProcess) -> None:
    for case, expected in PINNED.items():
        assert _normalized(_answer(served.port, "/", case)) == expected, case
        assert _normalized(_answer(served.port, "/x", case)) == expected, case


def test_the_answers_say_what_aws_says(served: ServeProcess) -> None:
    """A few of the cases above, read: the comparison alone would pass if both paths were wrong the same way."""
    accepted = _exchange(served.port, _request("/", PUT, CASES["accepted"][1]))
    assert accepted.startswith(b"HTTP/1.1 200 OK\r\n")
    assert orjson.loads(accepted.partition(b"\r\n\r\n")[2])["FailedEntryCount"] == 0
    refused = _exchange(served.port, _request("/", PUT, b"{nope"))
    assert refused.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert refused.endswith(b'{"__type":"SerializationException","message":"Request body is not valid JSON."}')
    bound = _exchange(served.port, _request("/", PUT, CASES["hop bound"][1], extra=CASES["hop bound"][2]))
    assert b'"__type":"ValidationException"' in bound
    assert b"X-Switchboard-Hops: 999" in bound
    too_large = _request("/", PUT, b"").replace(b"Content-Length: 0\r\n", b"Content-Length: 99999999\r\n")
    assert _exchange(served.port, too_large).startswith(b"HTTP/1.1 413 ")


def test_kept_alive_connections_get_each_answer_whole_and_in_order(served: ServeProcess) -> None:
    """Requests one after the other on one connection, alternating paths and outcomes: each answer is complete
    (its content-length of body, nothing of the next) and they come in order."""
    bodies = [orjson.dumps({"Entries": [ENTRY] * n}) for n in (1, 10, 0, 3)]
    with socket.create_connection(("127.0.0.1", served.port), timeout=20) as sock:
        reader = sock.makefile("rb")
        for round_ in range(3):
            for n, body in zip((1, 10, 0, 3), bodies, strict=True):
                path = "/" if round_ % 2 == 0 else "/x"
                sock.sendall(_request(path, PUT, body, close=False))
                status = reader.readline()
                length = 0
                while (line := reader.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                answer = orjson.loads(reader.read(length))
                if n == 0:
                    assert status.startswith(b"HTTP/1.1 400 "), status
                    assert answer["__type"] == "ValidationException"
                else:
                    assert status.startswith(b"HTTP/1.1 200 "), status
                    assert answer == {"FailedEntryCount": 0, "Entries": answer["Entries"]}
                    assert len(answer["Entries"]) == n
