"""The sagas' Redis key layout, in one place (router/keys.py keeps the router's; these sit beside it, same prefix).

Two kinds of hash tag, so every state change is one single-slot script and instances spread over a Redis Cluster:

- **`{saga:TYPE:ID}`, one per instance**: its state, history, outbox and the ids of the inputs it has seen. A
  transition (state + history + outbox + seen ids) is one script on these keys, so a crash never saves the state
  without its messages, or the messages without the state.
- **`{sagas:TYPE:N}`, one per shard** (N = a stable hash of the instance id, `shards` per type): the durable timers
  of the shard's instances (router.timers, owner `sagas:TYPE:N`: the owner name is the tag), and the shard's index
  (instance -> status and state, counts per status and state, counters) that `saga list`, the pages and the
  metrics read. The index is updated after each commit, guarded by the instance version, so it is idempotent.

| key | type | what |
|---|---|---|
| `sb:{meta}:saga-types` | hash | saga type -> its definition's description (JSON: states, transitions, queue, shards) |
| `sb:{saga:T:ID}:state` | hash | `version`, `status`, `state`, `doc` (the instance as JSON, sagas.instance) |
| `sb:{saga:T:ID}:history` | list | one JSON entry per transition (time, input, from, to, attempt, messages sent) |
| `sb:{saga:T:ID}:outbox` | hash | message sequence number -> message (JSON) committed and not yet dispatched |
| `sb:{saga:T:ID}:seen` | hash | input id (`d:` delivery, `e:` event, `r:` reply, `t:` timer, `c:` control) -> version |
| `sb:{sagas:T:N}:timers`, `...:timer-payloads`, `...:timer-claims` | | router.timers' keys for owner `sagas:T:N` |
| `sb:{sagas:T:N}:index` | hash | instance key -> `{id, status, state, version, created_ms, updated_ms}` (JSON) |
| `sb:{sagas:T:N}:counts` | hash | `STATUS|STATE` -> number of instances there |
| `sb:{sagas:T:N}:counters` | hash | `started`, `commits`, `finished:STATUS`, `duplicates`, `orphans`, `undeliverable` |
| `sb:{sagas:T:0}:rejected` | stream | messages the saga could not take (not JSON, no correlation key, poison) |

Instance keys (`ID` above) are the correlation value when it is made of `[A-Za-z0-9._-]` (1-128 characters), else
`h-` and a SHA-256 prefix of it (so no id can break the hash tag); the instance document keeps the value itself.
Saga type names match `[A-Za-z0-9._-]{1,64}`.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass

from router.keys import KeySpace

__all__ = ["SagaKeys", "instance_key", "shard_of", "valid_type_name"]

_SAFE_ID = re.compile(r"[A-Za-z0-9._\-]{1,128}")
_TYPE_NAME = re.compile(r"[A-Za-z0-9._\-]{1,64}")

INSTANCE_PARTS = ("state", "history", "outbox", "seen")
"""An instance's keys under its tag, in the order sagas.store's scripts take them."""


def valid_type_name(name: str) -> bool:
    return _TYPE_NAME.fullmatch(name) is not None


def instance_key(correlation: str) -> str:
    """The instance's key part: the correlation value itself when it is safe in a key, else a digest of it."""
    if _SAFE_ID.fullmatch(correlation) and not correlation.startswith("h-"):
        return correlation
    return "h-" + hashlib.sha256(correlation.encode()).hexdigest()[:40]


def shard_of(key: str, shards: int) -> int:
    """The shard of an instance key: stable across processes and versions (CRC-32)."""
    return zlib.crc32(key.encode()) % shards


@dataclass(frozen=True, slots=True)
class SagaKeys(KeySpace):
    """The sagas' key builder (router.keys.KeySpace: the router's prefix, keys built by `tagged`)."""

    @property
    def types(self) -> str:
        return self.tagged("meta", "saga-types")

    # one instance: tag {saga:TYPE:ID} ------------------------------------------------------------------------
    @staticmethod
    def _instance(saga: str, key: str) -> str:
        return f"saga:{saga}:{key}"

    def instance_tag(self, saga: str, key: str) -> str:
        return self.tagged(self._instance(saga, key))

    def state(self, saga: str, key: str) -> str:
        return self.tagged(self._instance(saga, key), "state")

    def history(self, saga: str, key: str) -> str:
        return self.tagged(self._instance(saga, key), "history")

    def outbox(self, saga: str, key: str) -> str:
        return self.tagged(self._instance(saga, key), "outbox")

    def seen(self, saga: str, key: str) -> str:
        return self.tagged(self._instance(saga, key), "seen")

    def instance_keys(self, saga: str, key: str) -> list[str]:
        """The instance's keys in the order sagas.store's scripts take them."""
        return [self.tagged(self._instance(saga, key), part) for part in INSTANCE_PARTS]

    # one shard: tag {sagas:TYPE:N}, the shard's timer owner ------------------------------------------------
    @staticmethod
    def timer_owner(saga: str, shard: int) -> str:
        """The router.timers owner of a shard (its hash tag, too)."""
        return f"sagas:{saga}:{shard}"

    def shard_tag(self, saga: str, shard: int) -> str:
        return self.tagged(self.timer_owner(saga, shard))

    def index(self, saga: str, shard: int) -> str:
        return self.tagged(self.timer_owner(saga, shard), "index")

    def counts(self, saga: str, shard: int) -> str:
        return self.tagged(self.timer_owner(saga, shard), "counts")

    def counters(self, saga: str, shard: int) -> str:
        return self.tagged(self.timer_owner(saga, shard), "counters")

    def rejected(self, saga: str) -> str:
        return self.tagged(self.timer_owner(saga, 0), "rejected")
