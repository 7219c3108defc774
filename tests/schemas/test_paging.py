"""Keyed pagination: pages follow name order, the last page has no token, bad tokens and limits are 400s."""

from __future__ import annotations

import pytest

from schemas.errors import BadRequestException
from schemas.paging import page


def test_pages_walk_every_item_once_and_end_without_a_token() -> None:
    items = [f"n{i:02d}" for i in range(7)]
    seen: list[str] = []
    token: str | None = None
    while True:
        chunk, token = page(items, str, {"Limit": 3, "NextToken": token})
        seen += chunk
        if token is None:
            break
    assert seen == items


def test_a_page_that_reaches_the_end_has_no_token() -> None:
    assert page(["a", "b"], str, {"Limit": 2}) == (["a", "b"], None)
    assert page([], str, {}) == ([], None)


def test_an_item_deleted_between_pages_does_not_shift_the_next_page() -> None:
    first, token = page(["a", "b", "c", "d"], str, {"Limit": 2})
    assert first == ["a", "b"]
    assert page(["a", "c", "d"], str, {"Limit": 2, "NextToken": token}) == (["c", "d"], None)


@pytest.mark.parametrize("params", [{"Limit": 0}, {"Limit": 101}, {"NextToken": "!!"}, {"NextToken": "e30="}])
def test_bad_limits_and_tokens_are_bad_requests(params: dict[str, object]) -> None:
    with pytest.raises(BadRequestException):
        page(["a"], str, params)
