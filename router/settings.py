"""Typed, frozen settings for the service, and the one place that reads the environment.

Every knob the router has lives on `Settings`. `Settings.from_env()` is the only function in the code base that
reads `os.environ`; everything else receives a `Settings` (or a value taken from one). Units are in the names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

PUT_EVENTS_LIMIT_BYTES = 1_048_576
"""EventBridge's PutEvents request-size limit since January 2026 (1 MiB, by AWS's entry-size formula)."""

PUT_EVENTS_LEGACY_LIMIT_BYTES = 262_144
"""The older 256 KiB limit, selectable with SWITCHBOARD_PUT_EVENTS_LIMIT_BYTES=262144."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4010
    redis_url: str | None = None
    """None means: start an embedded redis-server (persistence on) under `data_dir`."""
    region: str = "us-east-1"
    account_id: str = "123456789012"
    config_dir: Path | None = None
    data_dir: Path = Path(".switchboard")
    put_events_limit_bytes: int = PUT_EVENTS_LIMIT_BYTES
    max_request_body_bytes: int = 4 * 1_048_576
    """Hard cap on any HTTP request body; larger bodies are refused before they are read in full."""
    rules_refresh_interval_s: float = 0.25
    """How often a process checks Redis for rule changes made by another process."""
    key_prefix: str = "sb"
    """Prefix of every Redis key (see router.keys)."""
    secrets_key: str | None = None
    """Fernet key (urlsafe base64, 32 bytes) that encrypts connection credentials in Redis. None means: the key in
    `data_dir/secrets.key`, created on first use. Every router process sharing one Redis needs the same key."""
    delivery_visibility_timeout_s: float = 30.0
    """A delivery job a worker took but did not settle for this long is taken over by another worker (or process):
    its worker is presumed dead (kill -9). Must exceed the longest delivery (5 s HTTP timeout plus queueing)."""
    delivery_concurrency_per_target: int = 16
    """In-flight HTTP deliveries per target and process (queue and bus targets go in batches instead)."""
    redis_max_connections: int = 32
    """Connections of a process's command pool (per node on a cluster); callers wait for a free one. The workers'
    blocking reads use their own connections, at most two per bus partition (router.stream_reader)."""
    ingest_backlog_limit_events: int = 100_000
    """Per bus: events accepted but not yet processed by the ingest worker beyond which PutEvents answers the entries
    it cannot take with the retryable ThrottlingException (docs/operations.md, "Backpressure")."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        base = cls()
        values: dict[str, object] = {
            "host": env.get("SWITCHBOARD_HOST", base.host),
            "port": int(env.get("SWITCHBOARD_PORT", base.port)),
            "redis_url": env.get("REDIS_URL") or None,
            "region": env.get("SWITCHBOARD_REGION", env.get("AWS_DEFAULT_REGION", base.region)),
            "account_id": env.get("SWITCHBOARD_ACCOUNT_ID", base.account_id),
            "data_dir": Path(env.get("SWITCHBOARD_DATA_DIR", str(base.data_dir))),
            "put_events_limit_bytes": int(env.get("SWITCHBOARD_PUT_EVENTS_LIMIT_BYTES", base.put_events_limit_bytes)),
            "key_prefix": env.get("SWITCHBOARD_KEY_PREFIX", base.key_prefix),
            "secrets_key": env.get("SWITCHBOARD_SECRETS_KEY") or None,
            "delivery_visibility_timeout_s": float(
                env.get("SWITCHBOARD_DELIVERY_VISIBILITY_TIMEOUT_S", base.delivery_visibility_timeout_s)
            ),
            "delivery_concurrency_per_target": int(
                env.get("SWITCHBOARD_DELIVERY_CONCURRENCY_PER_TARGET", base.delivery_concurrency_per_target)
            ),
            "redis_max_connections": int(env.get("SWITCHBOARD_REDIS_MAX_CONNECTIONS", base.redis_max_connections)),
            "ingest_backlog_limit_events": int(
                env.get("SWITCHBOARD_INGEST_BACKLOG_LIMIT_EVENTS", base.ingest_backlog_limit_events)
            ),
        }
        if "SWITCHBOARD_CONFIG_DIR" in env:
            values["config_dir"] = Path(env["SWITCHBOARD_CONFIG_DIR"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(base, **values)  # type: ignore[arg-type]
