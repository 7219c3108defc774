"""Keyed pagination for the Schemas list operations (`Limit` 1-100, opaque `NextToken`).

A `NextToken` is the base64url JSON name of the last item returned (router.api._control's token, shared with the
events API's pages); the next page starts after it in name order,
so items created or deleted between pages never shift a page. The last page carries no token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from router.api._control import encode_token, token_after
from schemas.errors import BadRequestException

__all__ = ["MAX_PAGE_SIZE", "page"]

T = TypeVar("T")

MAX_PAGE_SIZE = 100
"""The model's `Limit` maximum, also the page size when a request gives none."""


def page(items: Sequence[T], key: Callable[[T], str], params: Mapping[str, Any]) -> tuple[list[T], str | None]:
    """One page of `items` (sorted by `key`) after the request's NextToken, and the token for the next page."""
    limit = params.get("Limit")
    if limit is None:
        limit = MAX_PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequestException(f"Limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}.")
    token = params.get("NextToken")
    if token:
        after = _decode(token)
        items = [item for item in items if key(item) > after]
    chosen = list(items[:limit])
    return chosen, (encode_token(key(chosen[-1])) if len(items) > limit else None)


def _decode(token: str) -> str:
    after = token_after(token)
    if after is None:
        raise BadRequestException("The NextToken is not valid.")
    return after
