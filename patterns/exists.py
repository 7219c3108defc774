"""`exists`: whether a field has a leaf value.

`{"exists": true}` matches any leaf value, `null` included; objects are not leaves, and an empty array gives no
value, so neither satisfies it. `{"exists": false}` is satisfied when the field has no leaf value *within the array
elements already chosen by the rule's other fields* (event-ruler's array-consistent semantics): the machine checks
such fields after all the others, with the elements those bound, see `machine.py`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Exists:
    """`{"exists": present}`."""

    present: bool


def read_exists(kind: int, true_kind: int, false_kind: int) -> Exists | None:
    """The matcher for the token after `"exists":`, or None when it is neither `true` nor `false`."""
    if kind == true_kind:
        return Exists(True)
    if kind == false_kind:
        return Exists(False)
    return None
