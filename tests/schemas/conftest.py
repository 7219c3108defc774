"""Fixtures for the schema registry: a real uvicorn server (the app with every installed extension, so the
`schemas` entry point is exercised) on the session's redis-server, and a real boto3 `schemas` client on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from router.app import create_app
from tests.router.conftest import ServerThread, boto3_client, make_settings


def schemas_client_for(url: str) -> Any:
    return boto3_client(url, "schemas")


@pytest.fixture
def schemas_server(redis_url: str) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(make_settings(redis_url)))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def schemas(schemas_server: ServerThread) -> Any:
    """A real boto3 Schemas client talking to the real server."""
    return schemas_client_for(schemas_server.url)


@pytest.fixture
def events(schemas_server: ServerThread) -> Any:
    """A real boto3 EventBridge client on the same server (one port serves both APIs)."""
    return boto3_client(schemas_server.url)
