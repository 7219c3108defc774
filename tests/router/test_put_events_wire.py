"""PutEvents against a real uvicorn server: boto3's view of results and errors, and the body cap."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.router.conftest import ServerThread

pytestmark = pytest.mark.integration

ENTRY = {"Source": "com.example", "DetailType": "Thing", "Detail": '{"a": 1}'}


def test_boto3_gets_positional_results(events_client: Any) -> None:
    result = events_client.put_events(
        Entries=[
            ENTRY,
            {**ENTRY, "Detail": "[]"},
            {**ENTRY, "EventBusName": "missing"},
            {"Source": "x", "Detail": "{}"},
        ]
    )
    assert result["FailedEntryCount"] == 3
    entries = result["Entries"]
    assert set(entries[0]) == {"EventId"}
    assert entries[1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert entries[2] == {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": "Event bus missing does not exist."}
    assert entries[3] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
    }
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_boto3_sees_eleven_entries_as_a_validation_exception(events_client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        events_client.put_events(Entries=[ENTRY] * 11)
    error = exc.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"].endswith("Member must have length less than or equal to 10")


def test_boto3_sees_an_oversized_request_as_a_validation_exception(events_client: Any) -> None:
    big = {**ENTRY, "Detail": '{"x": "' + "y" * 600_000 + '"}'}
    with pytest.raises(ClientError) as exc:
        events_client.put_events(Entries=[big, big])
    assert exc.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Total size of the entries in the request is over the limit.",
    }


def test_a_body_over_the_cap_is_refused_from_its_content_length(server: ServerThread) -> None:
    cap = 4 * 1_048_576
    response = httpx.post(
        server.url,
        content=b"x" * (cap + 1),
        headers={"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["__type"] == "RequestEntityTooLargeException"


def test_a_chunked_body_over_the_cap_is_refused_without_reading_it_all(server: ServerThread) -> None:
    """No Content-Length: the server stops at the cap and answers 413 while the client is still sending."""
    sent = 0
    chunk = b"x" * 65536
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSEvents.PutEvents\r\n"
            b"Content-Type: application/x-amz-json-1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        response = b""
        sock.settimeout(0.05)
        while sent < 64 * 1_048_576 and not response:
            try:
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
            except OSError:
                break
            with contextlib.suppress(TimeoutError):
                response = sock.recv(65536)
        sock.settimeout(10)
        while b"\r\n\r\n" not in response:
            more = sock.recv(65536)
            if not more:
                break
            response += more
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < 16 * 1_048_576  # refused near the 4 MiB cap, not after the whole 64 MiB
    assert httpx.get(f"{server.url}/health").status_code == 200
