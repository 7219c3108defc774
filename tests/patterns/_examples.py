"""How many examples the pattern language's property tests draw: a quick default, a thorough run in CI.

The default unit run (`pytest -m "not integration"`) draws a fifth of each test's thorough count, so the tier stays
fast while every property still runs on every run (and hypothesis replays any failing example it has saved).
`SWITCHBOARD_TEST_PROFILE=thorough`, which `make test` sets for the unit tier (CI runs `make test`), draws the
full count.
"""

from __future__ import annotations

import os
from typing import Final

__all__ = ["PROFILE", "examples"]

PROFILE: Final = os.environ.get("SWITCHBOARD_TEST_PROFILE", "quick")
QUICK_SHARE: Final = 5
"""The quick profile draws 1/QUICK_SHARE of the thorough count."""

if PROFILE not in ("quick", "thorough"):
    raise RuntimeError(f"SWITCHBOARD_TEST_PROFILE must be quick or thorough, not {PROFILE!r}")


def examples(thorough: int) -> int:
    """`max_examples` for a property test whose thorough run draws `thorough` examples."""
    return thorough if PROFILE == "thorough" else max(10, thorough // QUICK_SHARE)
