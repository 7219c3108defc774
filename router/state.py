"""What every request handler gets: the settings, the Redis client and the key layout.

`AppState` is built once per process by `router.app.create_app` and passed to every operation handler, so handlers
are plain async functions of `(state, request_body)`; nothing reaches for globals. `namespace` (and `region`,
`account_id`) is the (account, region) of the request being handled (router.namespace), the home namespace (the
settings') outside a request.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from router import namespace as namespaces
from router.keys import Keys
from router.namespace import Namespace
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

    def __post_init__(self) -> None:
        home = Namespace(self.settings.account_id, self.settings.region)
        if self.keys.home != home:  # the key layout's home namespace is always the settings'
            self.keys = dataclasses.replace(self.keys, home=home)

    @property
    def home(self) -> Namespace:
        """The settings' namespace (whose resources keep their bare key names: router.keys)."""
        return self.keys.home

    @property
    def namespace(self) -> Namespace:
        """The namespace of the request being handled (router.namespace), else the home namespace."""
        return namespaces.current() or self.keys.home

    @property
    def region(self) -> str:
        return self.namespace.region

    @property
    def account_id(self) -> str:
        return self.namespace.account_id
