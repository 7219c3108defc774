"""Quotas: AWS's default resource limits per account and region, as one typed block of settings.

Each quota is a setting (`SWITCHBOARD_QUOTA_<NAME>`, read in router.settings) with the default AWS documents in its
quota page, and each refusal is AWS's `LimitExceededException` "The requested resource exceeds the maximum number
allowed." (the text AWS answers for a sixth target and for the 301st rule alike). A quota of 0 means no limit. The
counting is done where the resource is written, in the same Redis script, so concurrent creates never overshoot.
The bus policy size (10,240 characters) is not a count: beyond it PutPermission answers
`PolicyLengthExceededException`, as AWS does.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from router.errors import LimitExceededException

__all__ = ["LIMIT_EXCEEDED_MESSAGE", "QUOTA_VARIABLES", "Quotas", "limit_exceeded", "within"]

LIMIT_EXCEEDED_MESSAGE = "The requested resource exceeds the maximum number allowed."


@dataclass(frozen=True, slots=True)
class Quotas:
    """Limits per account and region (per bus, rule or resource where the name says so); 0 = no limit."""

    event_buses: int = 100
    """Event buses, the default bus and partner buses included (AWS: 100)."""
    rules_per_bus: int = 300
    """Rules on one event bus, managed rules included (AWS: 300; 100 in af-south-1 and eu-south-1)."""
    targets_per_rule: int = 5
    """Targets on one rule (AWS: 5, not adjustable there)."""
    tags_per_resource: int = 50
    """Tags on one bus or rule (AWS's tagging limit: 50)."""
    connections: int = 3000
    """Connections (AWS: 3,000)."""
    api_destinations: int = 3000
    """API destinations (AWS: 3,000)."""
    archives: int = 0
    """Archives: AWS's quota page lists none, so no limit unless one is set."""
    active_replays: int = 10
    """Replays in STARTING or RUNNING at once (AWS: 10)."""
    endpoints: int = 100
    """Global endpoints (AWS: 100)."""
    policy_size_chars: int = 10_240
    """Characters of one event bus's resource policy (AWS: 10,240); beyond it PolicyLengthExceededException."""


QUOTA_VARIABLES: dict[str, str] = {f.name: f"SWITCHBOARD_QUOTA_{f.name.upper()}" for f in fields(Quotas)}
"""The environment variable of each quota (router.settings reads them)."""


def within(count: int, limit: int) -> bool:
    """Whether `count` resources fit a quota of `limit` (0: no limit)."""
    return limit <= 0 or count <= limit


def limit_exceeded() -> LimitExceededException:
    return LimitExceededException(LIMIT_EXCEEDED_MESSAGE)
