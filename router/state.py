"""What every request handler gets: the settings, the Redis client and the key layout.

`AppState` is built once per process by `router.app.create_app` and passed to every operation handler, so handlers
are plain async functions of `(state, request_body)`; nothing reaches for globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from router.keys import Keys
from router.settings import Settings

if TYPE_CHECKING:
    from router.redis_client import AnyRedis


@dataclass(slots=True)
class AppState:
    settings: Settings
    redis: AnyRedis
    keys: Keys
    extras: dict[str, Any] = field(default_factory=dict)
    """Process-wide services registered at start-up (metrics, the ingest worker, ...), by name."""

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def account_id(self) -> str:
        return self.settings.account_id
