"""Every Lua script and every transaction the router sends touches one Redis Cluster hash slot (issue 9).

The check sits where every command of the router's clients is packed (router.redis_client's hiredis packing), so
it sees every script call (`EVAL`, `EVALSHA`: their declared KEYS) and every transaction (`MULTI ... EXEC`, with
the `WATCH` before it: the keys of every command inside) that any test makes, on a single redis-server as well as
on the cluster (where a cross-slot script would fail with CROSSSLOT anyway). `tests/conftest.py` runs it around every
test and fails the test that sent a cross-slot script or transaction; `cross_slot` is the check itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from redis.crc import key_slot

__all__ = ["cross_slot", "record"]

_KEYLESS = frozenset({b"MULTI", b"EXEC", b"DISCARD", b"UNWATCH", b"PING"})
_ALL_ARGS_ARE_KEYS = frozenset({b"WATCH", b"DEL", b"EXISTS", b"UNLINK", b"MGET", b"TOUCH"})


def _name(arg: Any) -> bytes:
    return (arg if isinstance(arg, bytes) else str(arg).encode()).upper()


def _bytes(arg: Any) -> bytes:
    return arg if isinstance(arg, bytes) else str(arg).encode()


def _keys(command: Sequence[Any]) -> list[bytes]:
    """The keys of one command (the commands the router sends in scripts calls and transactions)."""
    name = _name(command[0])
    if name in _KEYLESS or len(command) < 2:
        return []
    if name in (b"EVAL", b"EVALSHA"):
        count = int(command[2])
        return [_bytes(k) for k in command[3 : 3 + count]]
    if name in _ALL_ARGS_ARE_KEYS:
        return [_bytes(k) for k in command[1:]]
    if name in (b"XREAD", b"XREADGROUP"):
        streams = [i for i, a in enumerate(command) if _name(a) == b"STREAMS"]
        if not streams:
            return []
        rest = command[streams[0] + 1 :]
        return [_bytes(k) for k in rest[: len(rest) // 2]]
    return [_bytes(command[1])]


def cross_slot(commands: Iterable[Sequence[Any]]) -> list[str]:
    """What in these packed commands (one call's, or one pipeline's) touches more than one slot."""
    problems: list[str] = []
    in_transaction: list[bytes] | None = None
    watched: list[bytes] = []
    for command in commands:
        name = _name(command[0])
        if name == b"WATCH":
            watched += _keys(command)
            continue
        if name == b"MULTI":
            in_transaction = list(watched)
            continue
        if name == b"EXEC" and in_transaction is not None:
            slots = {key_slot(k) for k in in_transaction}
            if len(slots) > 1:
                problems.append(f"a transaction over {len(slots)} slots: {sorted(set(in_transaction))[:6]}")
            in_transaction, watched = None, []
            continue
        keys = _keys(command)
        if in_transaction is not None:
            in_transaction += keys
        elif name in (b"EVAL", b"EVALSHA") and len({key_slot(k) for k in keys}) > 1:
            problems.append(f"a script over {len({key_slot(k) for k in keys})} slots: {keys[:6]}")
    return problems


FOUND: list[str] = []
"""Cross-slot scripts and transactions seen during the current test."""


def record(commands: Iterable[Sequence[Any]]) -> None:
    FOUND.extend(cross_slot(commands))
