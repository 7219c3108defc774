"""Storage faults as clients and operators see them: one AWS-shaped error per fault class, and quiet logs.

A Redis that is unreachable, out of memory or too slow is an expected fault, not a bug. Every operation answers it
the same way (the dispatcher translates at its boundary, `storage_error`), the process logs a few lines per fault
and second instead of a traceback per request (`QuietFaults`, installed on the log handlers by router.cli), and
nothing a client can read (`/health`, `/metrics`, error messages) names the Redis address.

Each fault class answers InternalException (500, which SDKs retry) with its own message (`FAULT_MESSAGES`):
- `unreachable`: redis-py's ConnectionError (refused, reset, too many connections, loading) or a bare OSError;
  on a Redis Cluster also a cluster that cannot be reached or is down (ClusterDownError, MasterDownError,
  TryAgainError, SlotNotCoveredError, ClusterError, and the RedisClusterException raised when no node answers or the
  nodes cover not every slot): "Storage is unavailable. Retry the request.";
- `out-of-memory`: OutOfMemoryError, or a script's ResponseError "OOM command not allowed ...": "Storage is out
  of memory. Retry the request later.";
- `timeout`: TimeoutError: "Storage did not answer in time. Retry the request.";
- `read-only`: ReadOnlyError (a replica, or a failover under way): "Storage is read-only. Retry the request later."

Any other Redis error (a wrong reply, a script bug) is not a fault of the storage but of the router: it answers
"An internal error occurred." and is logged with its traceback, as every unexpected error is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

import redis.exceptions

from router.errors import InternalException, ServiceError

__all__ = [
    "FAULT_MESSAGES",
    "STORAGE_ERRORS",
    "QuietFaults",
    "fault_answer",
    "fault_class",
    "fault_in_chain",
    "log_fault",
    "storage_error",
]

UNREACHABLE: Final = "unreachable"
OUT_OF_MEMORY: Final = "out-of-memory"
TIMEOUT: Final = "timeout"
READ_ONLY: Final = "read-only"

FAULT_MESSAGES: Final = {
    UNREACHABLE: "Storage is unavailable. Retry the request.",
    OUT_OF_MEMORY: "Storage is out of memory. Retry the request later.",
    TIMEOUT: "Storage did not answer in time. Retry the request.",
    READ_ONLY: "Storage is read-only. Retry the request later.",
}


STORAGE_ERRORS: Final = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)
"""What a Redis call can raise (redis-py's cluster client raises RedisClusterException, which is no RedisError):
the exceptions a protocol's boundary hands to `storage_error`."""

_CLUSTER_FAULTS: Final = (
    redis.exceptions.ClusterDownError,  # MasterDownError too
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterError,
    redis.exceptions.SlotNotCoveredError,
)
_CLUSTER_UNREACHABLE: Final = (
    "Redis Cluster cannot be connected",
    "All slots are not covered",
    "startup_nodes could not agree",
)


def fault_class(err: BaseException) -> str | None:
    """The storage fault class of `err` (see the table above), or None when it is not a storage fault."""
    if isinstance(err, redis.exceptions.TimeoutError):
        return TIMEOUT
    if isinstance(err, redis.exceptions.ReadOnlyError):
        return READ_ONLY
    if isinstance(err, (redis.exceptions.ConnectionError, *_CLUSTER_FAULTS)):
        return UNREACHABLE
    if isinstance(err, redis.exceptions.RedisClusterException) and str(err).startswith(_CLUSTER_UNREACHABLE):
        return UNREACHABLE  # no startup node answered, or they cover not every slot (not a bug of the router)
    if isinstance(err, redis.exceptions.OutOfMemoryError) or (
        isinstance(err, redis.exceptions.ResponseError) and "OOM command not allowed" in str(err)  # inside a script
    ):
        return OUT_OF_MEMORY
    if isinstance(err, OSError) and not isinstance(err, redis.exceptions.RedisError):
        return UNREACHABLE  # a socket error redis-py did not wrap
    return None


def fault_in_chain(err: BaseException) -> str | None:
    """The fault class of `err` or of what caused it (a ServiceError raised `from` a RedisError, ...)."""
    seen = 0
    current: BaseException | None = err
    while current is not None and seen < 8:
        kind = fault_class(current)
        if kind is not None:
            return kind
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def storage_error(err: BaseException) -> ServiceError:
    """The wire error for a Redis failure: one per fault class, the same for every operation."""
    kind = fault_class(err)
    if kind is None:
        return InternalException("An internal error occurred.")
    return InternalException(FAULT_MESSAGES[kind])


def fault_answer(logger: logging.Logger, what: str, err: BaseException) -> str:
    """The message a protocol answers a Redis error with (its fault class's, see `FAULT_MESSAGES`), logging it:
    one rate-limited line for a storage fault, the traceback for anything else (a bug)."""
    kind = fault_class(err)
    if kind is None:
        logger.error("internal error in %s", what, exc_info=err)
        return "An internal error occurred."
    log_fault(logger, what, err)
    return FAULT_MESSAGES[kind]


class _Limiter:
    """At most `per_second` events per key and second; counts what it drops. Bounded in keys."""

    def __init__(self, per_second: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, ...], list[float]] = {}
        """key -> [window start, events passed in it, events dropped since the last that passed]."""

    def allow(self, key: tuple[str, ...]) -> int | None:
        """None to drop the event; else how many of its kind were dropped since the last that passed."""
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) >= 1024:  # forget the oldest half
                    for stale in sorted(self._windows, key=lambda k: self._windows[k][0])[:512]:
                        del self._windows[stale]
                window = self._windows[key] = [now, 0.0, 0.0]
            if now - window[0] >= 1.0:
                window[0], window[1] = now, 0.0
            if window[1] >= self.per_second:
                window[2] += 1
                return None
            window[1] += 1
            dropped, window[2] = int(window[2]), 0.0
            return dropped


_LOG_LIMIT = _Limiter(3)


def log_fault(logger: logging.Logger, what: str, err: BaseException) -> None:
    """One warning line for a storage fault (no traceback), at most 3 per (logger, what, fault) and second."""
    kind = fault_class(err) or "error"
    dropped = _LOG_LIMIT.allow((logger.name, what, kind))
    if dropped is None:
        return
    suffix = f" [{dropped} similar lines dropped]" if dropped else ""
    logger.warning("%s: storage %s (%s: %s)%s", what, kind, type(err).__name__, err, suffix)


class QuietFaults(logging.Filter):
    """A log-handler filter for storage faults, whichever part of the router logs them: at most `per_second` lines
    per fault class and second pass (the next one that passes says how many were dropped), and none of them carries
    a traceback. A record is a storage fault when its `exc_info`, or one of its arguments, is an exception with a
    fault class, or caused by one (`log.warning("...: %s", err)` counts, and so does a ServiceError raised `from`
    a RedisError). Other records pass untouched. router.cli installs it on the
    log handlers, so a Redis outage writes a few lines a second, not a traceback per request or loop turn."""

    def __init__(self, per_second: int = 3, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._limiter = _Limiter(per_second, clock)

    def filter(self, record: logging.LogRecord) -> bool:
        err = record.exc_info[1] if record.exc_info else None
        kind = fault_in_chain(err) if err is not None else None
        if kind is None:
            args = record.args if isinstance(record.args, tuple) else ()
            for arg in args:
                if isinstance(arg, BaseException) and (kind := fault_in_chain(arg)) is not None:
                    break
            if kind is None:
                return True
        dropped = self._limiter.allow((kind,))
        if dropped is None:
            return False
        text = record.getMessage()
        if err is not None:
            text += f": storage {kind} ({type(err).__name__}: {err})"
        if dropped:
            text += f" [{dropped} similar lines dropped]"
        record.msg, record.args = text, ()
        record.exc_info, record.exc_text = None, None
        return True
