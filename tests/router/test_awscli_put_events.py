"""`aws events put-events` (the real aws CLI) against a real server: shorthand entries, positional output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import awscli
from tests.router.conftest import ServerThread

pytestmark = pytest.mark.integration


def test_aws_cli_put_events(server: ServerThread, tmp_path: Path) -> None:
    entries = [
        {"Source": "cli.test", "DetailType": "t", "Detail": '{"a": 1}', "Time": "2024-01-01T00:00:00Z"},
        {"Source": "cli.test", "DetailType": "t", "Detail": "not json"},
    ]
    output = awscli.aws_ok(server.url, "events", "put-events", "--entries", json.dumps(entries))
    assert output["FailedEntryCount"] == 1
    assert set(output["Entries"][0]) == {"EventId"}
    assert output["Entries"][1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
