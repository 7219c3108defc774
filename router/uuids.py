"""Random version-4 UUID strings, made in bulk: event ids, request ids, queue message ids.

Each id is what `str(uuid.uuid4())` gives: 122 bits from `os.urandom`, the version and variant bits set, 36 lower-case
characters. `uuid.uuid4()` makes one system call and one `UUID` object per id, and formatting ids one by one costs
about a microsecond each in Python; the router makes ten or more per PutEvents call (event ids, the request id) and
thousands per queue flush. So ids are formatted many at once with a few whole-buffer operations (`uuid4_strings`:
about 0.3 µs per id at 1,000), and the hot paths take theirs from a per-process pool of such ids (`take`, `one`),
refilled `POOL_SIZE` at a time: a request's ten ids then cost a slice.

The pool is per process: a forked child (`serve --workers N`, router.workers) starts with an empty one, so two
processes never hand out the same pre-made ids. A worker thread (PutEvents' off-loop envelopes) takes under a lock.
"""

from __future__ import annotations

import os
import threading

__all__ = ["POOL_SIZE", "one", "take", "uuid4_strings"]

POOL_SIZE = 1024
"""Ids made per refill of the pool."""

_VERSION = bytes((b & 0x0F) | 0x40 for b in range(256))
"""Byte 6 of a UUID: version 4 in the high nibble, the low nibble kept."""
_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))
"""Byte 8: the RFC 4122 variant (10xx) in the high bits, the rest kept."""
_HEX_TO_TEXT = tuple((p, p + (p >= 8) + (p >= 12) + (p >= 16) + (p >= 20)) for p in range(32))
"""(position in the 32 hex digits, position in the 36-character text) of each digit of a UUID."""


def uuid4_strings(count: int) -> list[str]:
    """`count` new random version-4 UUID strings (as `str(uuid.uuid4())`), from one `os.urandom` call."""
    if count <= 0:
        return []
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION)
    raw[8::16] = raw[8::16].translate(_VARIANT)
    digits = raw.hex().encode()
    text = bytearray(b"-" * (37 * count))  # 36 characters and a space per id; the dashes are in place
    text[36::37] = b" " * count
    for digit, position in _HEX_TO_TEXT:
        text[position::37] = digits[digit::32]
    return text.decode().split()


_pool: list[str] = []
_lock = threading.Lock()


def take(count: int) -> list[str]:
    """`count` ids from the process's pool (fresh ones for a count bigger than the pool holds at once)."""
    if count <= 0 or count > POOL_SIZE:
        return uuid4_strings(count)
    with _lock:
        if len(_pool) < count:
            _pool[:0] = uuid4_strings(POOL_SIZE)
        ids = _pool[-count:]
        del _pool[-count:]
    return ids


def one() -> str:
    """One id from the process's pool."""
    with _lock:
        if not _pool:
            _pool[:] = uuid4_strings(POOL_SIZE)
        return _pool.pop()


def _forget() -> None:
    """In a forked child: the parent's pre-made ids are the parent's alone."""
    global _lock
    _pool.clear()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget)
