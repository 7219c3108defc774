"""A real boto3 `sqs` client (and `events`, from tests/router/conftest.py) against a real uvicorn server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.router.conftest import ServerThread, boto3_client


def sdk(server: ServerThread, name: str) -> Any:
    return boto3_client(server.url, name, read_timeout_s=30)


@pytest.fixture
def sqs(server: ServerThread) -> Any:
    return sdk(server, "sqs")


def error_of(raised: pytest.ExceptionInfo[Any]) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a botocore ClientError."""
    response = raised.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]
