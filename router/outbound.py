"""What every HTTP request the router makes shares: log hygiene and bounded reads of what comes back.

The router calls out for deliveries (router.delivery.http: functions and API destinations) and for OAuth tokens
(router.connections.auth). Those requests carry connection secrets in headers, in the query string and in the body,
and their answers come from servers the router does not control. So:

- httpx logs each request's full URL (query string included) at INFO, and httpcore the response headers at DEBUG:
  `quiet_http_loggers` sets both loggers to WARNING, whatever the root level, and the router's own lines use
  `safe_url` (no query string, fragment or user info).
- `read_limited` reads a response body up to a byte limit and stops there, so no answer's size costs memory.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import httpx

__all__ = ["ResponseTooLarge", "quiet_http_loggers", "read_limited", "safe_url"]

_HTTP_LOGGERS = ("httpx", "httpcore")


class ResponseTooLarge(Exception):
    """The response body is longer than the limit the caller gave."""


def quiet_http_loggers() -> None:
    """Keep httpx's and httpcore's INFO and DEBUG lines (URLs with secret query parameters, headers) out of the
    logs. An operator who sets those loggers' levels explicitly to DEBUG or INFO afterwards gets them back."""
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def safe_url(url: str) -> str:
    """`url` for messages and logs: no query string, fragment or user info (they may hold secrets)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def read_limited(response: httpx.Response, limit_bytes: int, *, raw: bool = True) -> bytes:
    """At most `limit_bytes` of a streamed response's body; ResponseTooLarge when there is more.

    `raw` reads the bytes as sent (no decompression, so a compressed body cannot expand in memory); `raw=False`
    decodes `Content-Encoding` and counts the decoded bytes."""
    if response.is_stream_consumed:  # a response made from bytes (a mock transport) holds its body already
        if len(response.content) > limit_bytes:
            raise ResponseTooLarge(f"the response body is longer than {limit_bytes} bytes")
        return response.content
    chunks: list[bytes] = []
    size = 0
    stream = response.aiter_raw() if raw else response.aiter_bytes()
    async for chunk in stream:
        size += len(chunk)
        if size > limit_bytes:
            raise ResponseTooLarge(f"the response body is longer than {limit_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
