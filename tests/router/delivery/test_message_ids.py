"""`message_ids`: random version-4 UUID strings, formatted in bulk for a flush's messages."""

from __future__ import annotations

import uuid

import pytest

from router.delivery.queues import message_ids


@pytest.mark.parametrize("count", [0, 1, 31, 32, 33, 1000])
def test_message_ids_are_distinct_version_4_uuids_as_uuid4_writes_them(count: int) -> None:
    ids = message_ids(count)
    assert len(ids) == count == len(set(ids))
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case, dashed, 36 characters
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_every_random_digit_of_bulk_ids_varies() -> None:
    ids = message_ids(2000)
    for position in range(36):
        seen = {text[position] for text in ids}
        if position in (8, 13, 18, 23):
            assert seen == {"-"}
        elif position == 14:
            assert seen == {"4"}  # the version
        elif position == 19:
            assert seen == set("89ab")  # the variant's two bits fixed, two random
        else:
            assert len(seen) == 16, position  # every hex digit turns up in 2,000 random ids
