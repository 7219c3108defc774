"""A real boto3 `sqs` client (and `events`, from tests/router/conftest.py) against a real uvicorn server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.router.conftest import ServerThread


def sdk(server: ServerThread, name: str) -> Any:
    import boto3  # here, not at import: the unit tier loads this conftest and needs no boto3
    from botocore.config import Config

    return boto3.client(
        name,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30),
    )


@pytest.fixture
def sqs(server: ServerThread) -> Any:
    return sdk(server, "sqs")


def error_of(raised: pytest.ExceptionInfo[Any]) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a botocore ClientError."""
    response = raised.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]
