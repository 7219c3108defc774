"""Settings from the environment: every variable checked, every problem named with its variable and fix, in one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.settings import Settings, SettingsError, redact_url, redis_url_problem, unused_variables


def problems(env: dict[str, str]) -> tuple[str, ...]:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    return info.value.problems


def test_every_variable_is_read_and_typed() -> None:
    settings = Settings.from_env(
        {
            "SWITCHBOARD_HOST": "0.0.0.0",
            "SWITCHBOARD_PORT": "8080",
            "REDIS_URL": "redis://:pw@redis.internal:6380/2",
            "SWITCHBOARD_REGION": "eu-west-1",
            "SWITCHBOARD_ACCOUNT_ID": "000000000042",
            "SWITCHBOARD_DATA_DIR": "/var/lib/switchboard",
            "SWITCHBOARD_PUT_EVENTS_LIMIT_BYTES": "262144",
            "SWITCHBOARD_KEY_PREFIX": "sb-test",
            "SWITCHBOARD_SECRETS_KEY": "A" * 43 + "=",
            "SWITCHBOARD_DELIVERY_VISIBILITY_TIMEOUT_S": "12.5",
            "SWITCHBOARD_DELIVERY_CONCURRENCY_PER_TARGET": "4",
            "SWITCHBOARD_CONFIG_DIR": "config",
        }
    )
    assert (settings.host, settings.port, settings.redis_url) == ("0.0.0.0", 8080, "redis://:pw@redis.internal:6380/2")
    assert (settings.region, settings.account_id, settings.data_dir) == (
        "eu-west-1",
        "000000000042",
        Path("/var/lib/switchboard"),
    )
    assert (settings.put_events_limit_bytes, settings.key_prefix) == (262144, "sb-test")
    assert (settings.delivery_visibility_timeout_s, settings.delivery_concurrency_per_target) == (12.5, 4)
    assert settings.config_dir == Path("config")


def test_empty_variables_count_as_unset() -> None:
    assert Settings.from_env({"REDIS_URL": "", "SWITCHBOARD_PORT": ""}) == Settings()


def test_flags_override_the_environment() -> None:
    settings = Settings.from_env({"SWITCHBOARD_PORT": "9000"}, port=9001, host=None)
    assert (settings.port, settings.host) == (9001, "127.0.0.1")


def test_a_bad_port_and_a_bad_redis_url_are_both_reported_in_one_run() -> None:
    assert problems({"SWITCHBOARD_PORT": "xyz", "REDIS_URL": "notaurl"}) == (
        "SWITCHBOARD_PORT=xyz: not a port number; use an integer from 0 to 65535, or unset it for 4010",
        "REDIS_URL=notaurl: not a Redis URL (it must start with redis://, rediss:// or unix://); use "
        "redis://HOST:PORT/DB (rediss:// for TLS, unix:///path/to/redis.sock), or unset it to run an embedded "
        "redis-server",
    )


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("SWITCHBOARD_PORT", "70000", "not a port number; use an integer from 0 to 65535, or unset it for 4010"),
        ("SWITCHBOARD_REGION", "mars", "not an AWS region name; use one such as us-east-1 or eu-west-1"),
        ("AWS_DEFAULT_REGION", "Europe", "not an AWS region name; use one such as us-east-1 or eu-west-1"),
        ("SWITCHBOARD_ACCOUNT_ID", "12345", "not an AWS account id; use 12 digits, e.g. 123456789012"),
        (
            "SWITCHBOARD_KEY_PREFIX",
            "sb:{x}",
            "not a key prefix; use 1-64 letters, digits, '.', '-' or '_' (no ':', '{' or '}')",
        ),
        (
            "SWITCHBOARD_PUT_EVENTS_LIMIT_BYTES",
            "1MB",
            "not an integer; use an integer from 1 to 4194304, or unset it for 1048576",
        ),
        (
            "SWITCHBOARD_DELIVERY_VISIBILITY_TIMEOUT_S",
            "soon",
            "not a number of seconds; use a number >= 1, or unset it for 30",
        ),
        (
            "SWITCHBOARD_DELIVERY_CONCURRENCY_PER_TARGET",
            "0",
            "not an integer; use an integer from 1 to 10000, or unset it for 16",
        ),
        (
            "SWITCHBOARD_HOST",
            "http://localhost",
            "not a host name or IP address; use e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)",
        ),
    ],
)
def test_each_bad_variable_names_itself_its_value_and_the_fix(variable: str, value: str, reason: str) -> None:
    assert problems({variable: value}) == (f"{variable}={value}: {reason}",)


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "data"
    file.write_text("")
    assert problems({"SWITCHBOARD_DATA_DIR": str(file)}) == (
        f"SWITCHBOARD_DATA_DIR={file}: exists and is not a directory; point it at a directory (it is created if "
        "missing)",
    )


def test_secrets_never_appear_in_problems() -> None:
    (secret_key,) = problems({"SWITCHBOARD_SECRETS_KEY": "hunter2-is-not-a-key"})
    assert secret_key.startswith("SWITCHBOARD_SECRETS_KEY=(hidden): not a Fernet key (32 bytes, url-safe base64)")
    assert "hunter2" not in secret_key
    (url,) = problems({"REDIS_URL": "redis://:hunter2@host:notaport/0"})
    assert url.startswith("REDIS_URL=redis://:***@host:notaport/0: not a Redis URL (the port is not a number)")
    assert "hunter2" not in url


@pytest.mark.parametrize(
    "url", ["redis://localhost", "redis://127.0.0.1:6379/0", "rediss://u:p@h:1/15", "unix:///run/redis.sock"]
)
def test_redis_urls_redis_py_takes_are_accepted(url: str) -> None:
    assert redis_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("localhost:6379", "it must start with redis://, rediss:// or unix://"),
        ("http://localhost:6379", "it must start with redis://, rediss:// or unix://"),
        ("redis://", "no host"),
        ("redis://h:0/0", "port 0"),
        ("redis://h:6379/zero", "the database after the last / must be a number"),
        ("unix://", "no socket path"),
    ],
)
def test_redis_urls_redis_py_refuses_are_explained(url: str, why: str) -> None:
    problem = redis_url_problem(url)
    assert problem is not None
    assert problem.startswith(f"not a Redis URL ({why}); use redis://HOST:PORT/DB")


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("redis://user:secret@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact_url("rediss://:secret@host/0") == "rediss://:***@host/0"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"


def test_unused_switchboard_variables_are_listed() -> None:
    env = {"SWITCHBOARD_PROT": "1", "SWITCHBOARD_PORT": "2", "OTHER": "x", "SWITCHBOARD_REGION": "us-east-1"}
    assert unused_variables(env) == ["SWITCHBOARD_PROT"]


def test_redis_socket_timeouts_are_explicit_settings() -> None:
    """Explicit, not redis-py's defaults: a frozen Redis fails a command within the socket timeout."""
    assert (Settings().redis_socket_timeout_s, Settings().redis_connect_timeout_s) == (5.0, 5.0)
    settings = Settings.from_env(
        {"SWITCHBOARD_REDIS_SOCKET_TIMEOUT_S": "1.5", "SWITCHBOARD_REDIS_CONNECT_TIMEOUT_S": "2"}
    )
    assert (settings.redis_socket_timeout_s, settings.redis_connect_timeout_s) == (1.5, 2.0)
    assert problems({"SWITCHBOARD_REDIS_SOCKET_TIMEOUT_S": "0"}) == (
        "SWITCHBOARD_REDIS_SOCKET_TIMEOUT_S=0: not a number of seconds; use a number >= 0.1, or unset it for 5",
    )
