"""router.uuids: random version-4 UUID strings in bulk, and the per-process pool the hot paths take them from."""

from __future__ import annotations

import os
import uuid

import pytest

from router import uuids


def _canonical_v4(text: str) -> bool:
    parsed = uuid.UUID(text)
    return parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


@pytest.mark.parametrize("count", [0, 1, 10, 31, 32, 33, 1000])
def test_uuid4_strings_are_distinct_canonical_version_4_uuids(count: int) -> None:
    ids = uuids.uuid4_strings(count)
    assert len(ids) == count == len(set(ids))
    assert all(_canonical_v4(text) for text in ids)  # lower-case, dashed, 36 characters, version and variant set


def test_every_random_digit_varies_and_only_the_fixed_ones_are_fixed() -> None:
    ids = uuids.uuid4_strings(2000)
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


@pytest.mark.parametrize("count", [0, 1, 10, uuids.POOL_SIZE, uuids.POOL_SIZE + 1])
def test_take_hands_out_count_ids_never_twice(count: int) -> None:
    taken = [text for _ in range(3) for text in uuids.take(count)] + [uuids.one() for _ in range(5)]
    assert len(taken) == 3 * count + 5 == len(set(taken))
    assert all(_canonical_v4(text) for text in taken)


def test_take_across_refills_never_repeats_an_id() -> None:
    taken = [text for _ in range(3 * uuids.POOL_SIZE // 7 + 3) for text in uuids.take(7)]
    assert len(taken) == len(set(taken))


def test_a_forked_child_never_hands_out_the_parents_pre_made_ids() -> None:
    uuids.take(1)  # the pool holds pre-made ids now
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its ids and leave at once
        try:
            os.write(write_end, " ".join([*uuids.take(10), uuids.one()]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [*uuids.take(10), uuids.one()]
    assert len(child) == 11
    assert not set(child) & set(parent)
