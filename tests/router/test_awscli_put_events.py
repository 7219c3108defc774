"""`aws events put-events` (the real aws CLI) against a real server: shorthand entries, positional output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.router.conftest import ServerThread

pytestmark = pytest.mark.integration

AWS = Path(sys.executable).parent / "aws"


def test_aws_cli_put_events(server: ServerThread, tmp_path: Path) -> None:
    entries = [
        {"Source": "cli.test", "DetailType": "t", "Detail": '{"a": 1}', "Time": "2024-01-01T00:00:00Z"},
        {"Source": "cli.test", "DetailType": "t", "Detail": "not json"},
    ]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    result = subprocess.run(  # noqa: PLW1510 - the exit code is what the test checks
        [str(AWS), "events", "put-events", "--endpoint-url", server.url, "--entries", json.dumps(entries)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["FailedEntryCount"] == 1
    assert set(output["Entries"][0]) == {"EventId"}
    assert output["Entries"][1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
