"""EventBridge ARNs: building them for our buses and rules, and reading the ones clients send.

AWS's formats: a bus is `arn:aws:events:{region}:{account}:event-bus/{name}`; a rule on the default bus is
`...:rule/{name}` and a rule on any other bus is `...:rule/{bus}/{name}`. Rule names never contain `/` and bus
names may (partner buses), so a rule ARN splits at its last `/`. Every `EventBusName` parameter takes a bus name
or a bus ARN; `bus_name` turns either into the name, and an ARN of another account or region names a bus this
router does not hold, so it is reported as missing rather than silently mapped onto a local bus.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.errors import ResourceNotFoundException

__all__ = ["DEFAULT_BUS", "Arns", "ResourceRef"]

DEFAULT_BUS = "default"


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A taggable resource named by an ARN: a bus (`rule` is None) or a rule on `bus`."""

    bus: str
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class Arns:
    """ARN builder and reader for one region and account."""

    region: str
    account_id: str
    partition: str = "aws"

    @property
    def _prefix(self) -> str:
        return f"arn:{self.partition}:events:{self.region}:{self.account_id}:"

    def bus(self, name: str) -> str:
        return f"{self._prefix}event-bus/{name}"

    def rule(self, bus: str, name: str) -> str:
        if bus == DEFAULT_BUS:
            return f"{self._prefix}rule/{name}"
        return f"{self._prefix}rule/{bus}/{name}"

    def bus_name(self, name_or_arn: str | None) -> str:
        """The bus an `EventBusName` parameter names: `default` when omitted, the name part of a bus ARN."""
        if not name_or_arn:
            return DEFAULT_BUS
        if not name_or_arn.startswith("arn:"):
            return name_or_arn
        if name_or_arn.startswith(f"{self._prefix}event-bus/"):
            return name_or_arn[len(self._prefix) + len("event-bus/") :]
        # Another account's or region's bus: we hold no such bus.
        name = name_or_arn.rsplit("event-bus/", 1)[-1]
        raise ResourceNotFoundException(f"Event bus {name} does not exist.")

    def resource(self, arn: str) -> ResourceRef | None:
        """The bus or rule an ARN of ours names, or None when it is not one of our bus or rule ARNs."""
        if not arn.startswith(self._prefix):
            return None
        rest = arn[len(self._prefix) :]
        if rest.startswith("event-bus/") and len(rest) > len("event-bus/"):
            return ResourceRef(rest[len("event-bus/") :])
        if rest.startswith("rule/") and len(rest) > len("rule/"):
            path = rest[len("rule/") :]
            bus, _, rule = path.rpartition("/")
            if not rule:
                return None
            return ResourceRef(bus or DEFAULT_BUS, rule)
        return None
