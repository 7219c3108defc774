"""Receipt handles: opaque, bound to one queue, and anything else is ReceiptHandleIsInvalid."""

from __future__ import annotations

import pytest

from router.sqs import handles
from router.sqs.errors import ReceiptHandleIsInvalid

TOKEN = "0123456789abcdef3"


def test_round_trip() -> None:
    handle = handles.encode("orders", "1700000000000-7", TOKEN)
    assert "orders" not in handle
    assert handles.decode(handle, "orders") == ("1700000000000-7", TOKEN)


@pytest.mark.parametrize(
    "handle",
    [
        "fake-receipt-handle",
        "",
        "%%%",
        handles.encode("other", "1-0", TOKEN),
        handles.encode("orders", "not-an-id", TOKEN),
        handles.encode("orders", "1-0", "short"),
    ],
)
def test_invalid(handle: str) -> None:
    with pytest.raises(ReceiptHandleIsInvalid) as raised:
        handles.decode(handle, "orders")
    assert raised.value.message == f'The input receipt handle "{handle}" is not a valid receipt handle.'
    assert (raised.value.query_code, raised.value.status) == ("ReceiptHandleIsInvalid", 404)
