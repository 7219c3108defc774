"""`router.cli_redis.cli_redis`, the set-up the `switchboard` commands that work on the router's Redis share, against
the real Redis (single and cluster): keys bound to the settings' home namespace, a client of the Redis `REDIS_URL`
names, Redis errors in the block as one line with exit code REDIS, the command's own errors unchanged, and the
client closed after the block whatever happened."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from router.cli_redis import cli_redis
from router.keys import Keys
from router.namespace import Namespace
from router.startup import ExitCode, StartupError

pytestmark = pytest.mark.integration


@pytest.fixture
def env(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SWITCHBOARD_ACCOUNT_ID", "999988887777")
    monkeypatch.setenv("SWITCHBOARD_REGION", "eu-north-1")
    monkeypatch.setenv("SWITCHBOARD_KEY_PREFIX", "cli")
    return redis_url


def test_a_session_has_the_home_namespace_keys_and_a_client(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    with cli_redis() as session:
        assert session.keys == Keys("cli", Namespace("999988887777", "eu-north-1"))
        assert session.keys.scoped("orders", Namespace("111122223333", "us-west-1")) == (
            "111122223333@us-west-1@orders"
        )
        assert session.keys.scoped("orders", Namespace("999988887777", "eu-north-1")) == "orders"
        assert session.client.ping()
        assert (session.url, session.settings.redis_url) == (env, env)
    assert capsys.readouterr().err.startswith("switchboard: reading the Redis at ")


def test_the_client_is_closed_after_the_block(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[int] = []
    """The ids of the clients closed (ids, not the clients: a client's __del__ closes it too)."""

    def recording(real: Callable[[Any], None]) -> Callable[[Any], None]:
        def close(client: Any) -> None:
            closed.append(id(client))
            real(client)

        return close

    monkeypatch.setattr(redis.Redis, "close", recording(redis.Redis.close))
    monkeypatch.setattr(redis.RedisCluster, "close", recording(redis.RedisCluster.close))
    with pytest.raises(StartupError), cli_redis() as session:
        raise StartupError(ExitCode.NOT_FOUND, ["x"])
    assert id(session.client) in closed


@pytest.mark.parametrize(
    ("reading", "line"),
    [(None, "cannot reach the Redis at {url}: gone"), ("queue q", "cannot read queue q from the Redis at {url}: gone")],
)
def test_a_redis_error_in_the_block_is_one_line_and_exit_code_redis(env: str, reading: str | None, line: str) -> None:
    with pytest.raises(StartupError) as caught, cli_redis(reading=reading):
        raise redis.ConnectionError("gone")
    assert (caught.value.code, caught.value.lines) == (ExitCode.REDIS, (line.format(url=env),))


def test_the_commands_own_errors_go_through_unchanged(env: str) -> None:
    mine = StartupError(ExitCode.NOT_FOUND, ["event bus orders does not exist"])
    with pytest.raises(StartupError) as caught, cli_redis():
        raise mine
    assert caught.value is mine
