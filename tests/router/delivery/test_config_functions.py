"""The config's `functions:` section: loaded, checked, and applied before targets, so function targets pass
PutTargets."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from router.config.applier import apply
from router.config.loader import load_dir, load_text
from router.config.model import ConfigError
from tests.router.conftest import Api

CONFIG = """
functions:
  process: http://127.0.0.1:9/process
rules:
  - name: placed
    pattern: {source: [shop]}
    targets:
      - {Id: fn, Arn: 'arn:aws:lambda:us-east-1:123456789012:function:process'}
"""


def test_functions_are_loaded_and_checked(tmp_path: Path) -> None:
    assert load_text("a.yaml", CONFIG).functions == (("process", "http://127.0.0.1:9/process"),)
    (tmp_path / "a.yaml").write_text(CONFIG)
    (tmp_path / "b.yaml").write_text("functions:\n  process: http://127.0.0.1:10/other\n")
    with pytest.raises(ConfigError) as raised:
        load_dir(tmp_path)
    assert [str(p) for p in raised.value.problems] == [
        f"{tmp_path}/b.yaml: functions.process: declared again with another URL (first in {tmp_path}/a.yaml)"
    ]
    with pytest.raises(ConfigError):
        load_text("c.yaml", "functions:\n  process: ftp://example\n")


@pytest.mark.integration
async def test_applied_functions_let_function_targets_in(dapi: Api, redis_client: aioredis.Redis) -> None:
    await apply(load_text("a.yaml", CONFIG), dapi.app.state.dispatcher)
    assert await redis_client.hgetall("sb:{meta}:functions") == {b"process": b"http://127.0.0.1:9/process"}
    listed = await dapi.ok("ListTargetsByRule", {"Rule": "placed"})
    assert [t["Id"] for t in listed["Targets"]] == ["fn"]
