"""The typed, frozen form of a loaded config directory, and the error that lists everything wrong with one.

`router.config.loader` turns YAML files into a `ConfigSet`; `router.config.applier` turns a `ConfigSet` into API calls.
Both sides only ever see these values, so what a file may say is decided in one place. Each value remembers where
it was declared (`file`, `path`), so an error found while applying still points at a line of YAML, and the
`Placement` its file names (the `account` and `region` a file may give: the (account, region) namespace its buses,
rules and archives live in, router.namespace; what it leaves out is the home namespace's). Targets keep
their PutTargets body as canonical JSON text: the dataclasses stay hashable and truly immutable, and
`TargetConfig.request()` hands out a fresh dict each time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from router.namespace import Namespace


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config file: where (file, path in the file or `line N`) and why."""

    file: str
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.reason}" if self.where else f"{self.file}: {self.reason}"


class ConfigError(Exception):
    """A config directory that cannot be loaded; `problems` lists every error found, one per line in `str()`."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Placement:
    """The namespace a config file's declarations live in: the file's `account` and `region`, each None when the
    file leaves it out (the home namespace's, decided where the config is applied: `resolve`)."""

    account: str | None = None
    region: str | None = None

    def resolve(self, home: Namespace) -> Namespace:
        """The (account, region) namespace, with what the file leaves out taken from `home`."""
        account, region = self.account or home.account_id, self.region or home.region
        return home if (account, region) == (home.account_id, home.region) else Namespace(account, region)


HOME = Placement()
"""The placement of a file that names no account and no region: the home namespace."""


@dataclass(frozen=True, slots=True)
class BusConfig:
    name: str
    description: str | None
    file: str
    path: str
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags the config adds to the bus (others are left alone)."""
    placement: Placement = HOME

    @property
    def label(self) -> str:
        return f"bus {self.name}"


@dataclass(frozen=True, slots=True)
class TargetConfig:
    id: str
    body: str
    """The Target shape of PutTargets, as canonical JSON text."""
    file: str
    path: str

    def request(self) -> dict[str, Any]:
        target: dict[str, Any] = json.loads(self.body)
        return target


@dataclass(frozen=True, slots=True)
class RuleConfig:
    name: str
    bus: str
    pattern: str | None
    """The EventPattern as sent to PutRule: a JSON string given in the file is kept as written (None: a scheduled
    rule without a pattern)."""
    state: str
    description: str | None
    targets: tuple[TargetConfig, ...]
    file: str
    path: str
    schedule: str | None = None
    """The ScheduleExpression as sent to PutRule (`rate(...)`, `cron(...)`; default bus only), or None."""
    placement: Placement = HOME

    @property
    def label(self) -> str:
        return f"rule {self.bus}/{self.name}"


@dataclass(frozen=True, slots=True)
class ArchiveConfig:
    name: str
    bus: str
    pattern: str | None
    """The EventPattern as sent to CreateArchive (as for rules), or None: every event but replays."""
    retention_days: int
    description: str | None
    file: str
    path: str
    placement: Placement = HOME

    @property
    def label(self) -> str:
        return f"archive {self.name}"


@dataclass(frozen=True, slots=True)
class ConfigSet:
    """Everything a config directory declares. Applying it makes Redis hold exactly this (see router.config.applier)."""

    buses: tuple[BusConfig, ...] = ()
    rules: tuple[RuleConfig, ...] = ()
    files: tuple[str, ...] = ()
    functions: tuple[tuple[str, str], ...] = ()
    """(Lambda function name, URL): where function targets are POSTed (router.delivery.functions)."""
    warnings: tuple[Problem, ...] = ()
    """What applying accepts but will not work as the file likely means (a target Switchboard cannot deliver to)."""
    archives: tuple[ArchiveConfig, ...] = ()

    @property
    def target_count(self) -> int:
        return sum(len(rule.targets) for rule in self.rules)


# Members of the config-owned set (`Keys.config_owned`): which buses, rules, targets and archives config created.
# `bus` and `archive` are key-layout names (router.keys `Keys.scoped`: the bare name in the home namespace,
# `ACCOUNT@REGION@NAME` in another), so two namespaces' same-named resources have two members.


def bus_member(bus: str) -> str:
    return f"bus:{bus}"


def rule_member(bus: str, rule: str) -> str:
    return f"rule:{bus}:{rule}"


def target_member(bus: str, rule: str, target: str) -> str:
    return f"target:{bus}:{rule}:{target}"


def archive_member(archive: str) -> str:
    return f"archive:{archive}"
