"""Running the real aws CLI (`.venv/bin/aws`) against a test server: one clean environment for every test that does.

The CLI gets fixed test credentials and region, no config or credentials file (a developer's own never leak in),
no instance-metadata lookups and no retries (an error is seen at once, with the exit status the CLI gives it), and
is always pointed at `--endpoint-url` with JSON output. Shared by the events, SQS and schemas CLI tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["AWS", "aws", "aws_env", "aws_ok"]

AWS = Path(sys.executable).parent / "aws"
"""The aws CLI of this virtualenv (the `awscli` dev dependency)."""


def aws_env() -> dict[str, str]:
    """The CLI's whole environment: PATH and HOME from this process, the rest fixed."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_MAX_ATTEMPTS": "1",
    }


def aws(endpoint_url: str, service: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`aws SERVICE ARGS... --endpoint-url URL --output json`; the exit status is the caller's to check."""
    command = [str(AWS), service, *args, "--endpoint-url", endpoint_url, "--output", "json"]
    return subprocess.run(command, env=aws_env(), capture_output=True, text=True, timeout=60, check=False)


def aws_ok(endpoint_url: str, service: str, *args: str) -> Any:
    """The parsed JSON output of a call that must succeed (None when it prints nothing)."""
    result = aws(endpoint_url, service, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None
