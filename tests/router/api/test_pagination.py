"""Unit tests of the control plane's pager (router/api/_control.py): keyed pages, opaque tokens, bad tokens refused.

The integration twin (tests/router/test_pagination_stability.py) pages real list operations while items change;
these check the pager alone, without a server."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from router.api._control import DEFAULT_PAGE_SIZE, paginate, with_token
from router.errors import ValidationException

NAMES = [f"n{i:03d}" for i in range(250)]


def _walk(items: list[str], limit: int | None) -> list[list[str]]:
    pages: list[list[str]] = []
    body: dict[str, Any] = {} if limit is None else {"Limit": limit}
    while True:
        page, token = paginate(items, str, body)
        pages.append(page)
        if token is None:
            return pages
        body = {**body, "NextToken": token}


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100, 249, 250, 251])
def test_pages_cover_every_item_once_in_order(limit: int) -> None:
    pages = _walk(NAMES, limit)
    assert [name for page in pages for name in page] == NAMES
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit


def test_without_a_limit_pages_hold_the_default_size() -> None:
    assert DEFAULT_PAGE_SIZE == 100
    assert [len(page) for page in _walk(NAMES, None)] == [100, 100, 50]
    assert paginate(NAMES[:100], str, {}) == (NAMES[:100], None)  # a full last page carries no token
    page, token = paginate(NAMES[:101], str, {})
    assert (len(page), token is not None) == (100, True)


def test_an_empty_list_is_one_empty_page_without_a_token() -> None:
    assert paginate([], str, {"Limit": 5}) == ([], None)


def test_the_token_is_base64url_json_naming_the_last_item_returned() -> None:
    _, token = paginate(["a/b", "é+?", "z"], str, {"Limit": 2})
    assert token is not None
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    assert orjson.loads(base64.urlsafe_b64decode(token)) == {"after": "é+?"}


def test_the_next_page_starts_after_the_tokens_name_even_when_that_item_is_gone() -> None:
    page, token = paginate(NAMES, str, {"Limit": 10})
    assert page[-1] == "n009"
    remaining = [name for name in NAMES if name not in ("n009", "n010")]  # the cursor item and the next one deleted
    shifted = ["a-new", *remaining]  # and one created before the cursor
    assert paginate(shifted, str, {"Limit": 3, "NextToken": token})[0] == ["n011", "n012", "n013"]


def test_items_are_paged_by_their_key() -> None:
    records = [{"Name": name, "Arn": f"arn:{name}"} for name in ("a", "b", "c")]
    page, token = paginate(records, lambda r: str(r["Name"]), {"Limit": 2})
    assert page == records[:2]
    assert paginate(records, lambda r: str(r["Name"]), {"Limit": 2, "NextToken": token}) == (records[2:], None)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        "abc",  # bad padding
        _b64(b"not json"),
        _b64(b"[1, 2]"),
        _b64(b'{"after": 1}'),
        _b64(b'{"before": "a"}'),
        _b64(b'"after"'),
        base64.standard_b64encode(b'{"after": "\xff\xfe"}').decode(),
    ],
)
def test_a_token_we_did_not_make_is_a_validation_exception(token: str) -> None:
    with pytest.raises(ValidationException, match=r"^Parameter NextToken is not valid\.$"):
        paginate(NAMES, str, {"NextToken": token})


def test_with_token_adds_next_token_only_when_there_is_one() -> None:
    assert with_token({"Rules": []}, None) == {"Rules": []}
    assert with_token({"Rules": []}, "t") == {"Rules": [], "NextToken": "t"}
