"""Receipt handles (pure): opaque, different for every receive, and bound to one queue.

A handle is the URL-safe base64 of `<entry id> <token> <queue name>`: the stream entry of the message, the token the
receive script stored in the message's receipt (a random prefix per ReceiveMessage plus the message's position), and
the queue, so a handle from another queue, or any text that is not a handle, is `ReceiptHandleIsInvalid`. Deleting
or changing the visibility of a message checks the token against the message's current receipt in the same script.
"""

from __future__ import annotations

import base64
import binascii
import re

from router.sqs.errors import ReceiptHandleIsInvalid

__all__ = ["decode", "encode"]

_ENTRY = re.compile(r"\d{1,20}-\d{1,20}")
_TOKEN = re.compile(r"[0-9a-f]{16}\d{1,3}")


def encode(queue: str, entry_id: str, token: str) -> str:
    return base64.urlsafe_b64encode(f"{entry_id} {token} {queue}".encode()).decode().rstrip("=")


def decode(handle: str, queue: str) -> tuple[str, str]:
    """(entry id, token) of a handle issued for `queue`; ReceiptHandleIsInvalid for anything else."""
    try:
        text = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4)).decode()
    except (binascii.Error, ValueError):
        raise ReceiptHandleIsInvalid(handle) from None
    parts = text.split(" ", 2)
    if len(parts) != 3 or parts[2] != queue or not _ENTRY.fullmatch(parts[0]) or not _TOKEN.fullmatch(parts[1]):
        raise ReceiptHandleIsInvalid(handle)
    return parts[0], parts[1]
