"""Applying a `ConfigSet`: make Redis hold what the config files declare, through the public operations.

Every read and write goes through `Dispatcher.call` (DescribeEventBus, CreateEventBus, DescribeRule, PutRule,
ListTargetsByRule, PutTargets, RemoveTargets, DeleteRule, DeleteEventBus, ...), so a config file is validated
exactly as the same request over the wire would be, and no other module's record format leaks in here.

Applying is declarative and idempotent:
- A resource is compared with what is stored first, and written only when it differs. Applying the same files
  twice performs no write at all the second time, so Redis (version counters included) is left untouched.
- What the files no longer declare is removed, but only if config created it. The set `Keys.config_owned`
  (`sb:{meta}:config-owned`) records the buses, rules, targets and archives config created: `bus:B`, `rule:B:R`,
  `target:B:R:ID`, `archive:A`, where B and A are key-layout names (router.keys `Keys.scoped`: the bare name in the
  home namespace, `ACCOUNT@REGION@NAME` in another), so the same names in two namespaces are two members, and a
  removal acts in its member's namespace only. A resource created over the API is never deleted by config; when
  config declares a resource that already exists, it updates it to match but does not take it over. A member is
  added just before the create call and taken back if the call fails, so a crash in between leaves at worst a claim
  on nothing, which the next apply settles.
- Removal order is targets, rules, buses; creation order is buses, rules, targets. A dropped rule that still has
  targets added over the API, or a dropped bus that still has rules created over the API, is kept (and stays
  owned, so it is retried next time) and reported in `ApplyReport.warnings`.

Namespaces: a file's `account` and `region` (`Placement`, resolved against the home namespace) say where its buses,
rules and archives live; each declaration is applied inside its namespace (`router.namespace.entered`), so the
operations see exactly what a client signing for that account and region would, the namespace's `default` bus
included (made on its first request there, as for any client).

Several router processes may apply the same files at once: each step is idempotent, and CreateEventBus's
ResourceAlreadyExistsException is treated as "someone else just created it".

Before the first write, `router.config.preflight` checks every declaration against the stored state (a rule on a
bus that does not exist, a managed rule, too many targets with the ones created over the API) and refuses the whole
apply, listing every problem, with nothing written. A failure after that (Redis going away, a concurrent change)
stops at the failing operation with `ConfigApplyError`, which names the file and path and carries exactly what was
applied before it (`ConfigApplyError.applied`); applying again resumes from there.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from router.config.model import (
    ArchiveConfig,
    BusConfig,
    ConfigSet,
    Placement,
    RuleConfig,
    TargetConfig,
    archive_member,
    bus_member,
    rule_member,
    target_member,
)
from router.config.preflight import preflight
from router.errors import (
    NotSupportedException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ServiceError,
)
from router.keys import UnreadableName
from router.namespace import Namespace, entered
from router.protocol import Dispatcher

log = logging.getLogger("switchboard.config")


class ConfigApplyError(Exception):
    """Config that could not be applied: `problems` name the file, path, operation and AWS error; `applied` is
    what this apply had changed before it stopped (an empty report when the check before any write failed)."""

    def __init__(self, problems: list[str] | str, applied: ApplyReport | None = None) -> None:
        listed = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(listed))
        self.problems = tuple(listed)
        self.applied = applied

    def lines(self) -> list[str]:
        """The problems, then exactly what was applied before the failure (for `switchboard serve`)."""
        out = list(self.problems)
        if self.applied is None or not self.applied.changed:
            out.append("nothing was applied: fix the problems above and start again")
        else:
            out.append(f"applied before the failure: {self.applied.changes()}")
            out.append("nothing was rolled back: fix the problem and start again; applying resumes from there")
        return out


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """What one apply did, as labels such as `bus orders`, `rule orders/order-placed`, `target orders/x/queue`."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    """What apply could not do, each with the reason: a dropped resource it had to keep, an unsupported update."""

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def summary(self) -> str:
        counts = ", ".join(
            f"{len(items)} {name}"
            for name, items in (
                ("created", self.created),
                ("updated", self.updated),
                ("deleted", self.deleted),
                ("unchanged", self.unchanged),
            )
        )
        return f"config applied: {counts}, {len(self.warnings)} warnings"

    def changes(self) -> str:
        """What changed, e.g. `created bus orders, rule orders/placed; deleted target orders/old/q`."""
        parts = [
            f"{name} {', '.join(items)}"
            for name, items in (("created", self.created), ("updated", self.updated), ("deleted", self.deleted))
            if items
        ]
        return "; ".join(parts) if parts else "nothing"


async def apply(config: ConfigSet, dispatcher: Dispatcher) -> ApplyReport:
    """Make the stored buses, rules and targets match `config` (see the module docstring); logs the outcome."""
    run = _Run(dispatcher)
    try:
        await run.apply(config)
    except ConfigApplyError as err:
        err.applied = run.report()
        raise
    except RedisError as err:  # the applier's own reads and writes (the ownership set, function URLs)
        raise ConfigApplyError(f"Redis failed while applying the config: {err}", run.report()) from err
    report = run.report()
    log.info("%s", report.summary())
    for warning in report.warnings:
        log.warning("config: %s", warning)
    return report


@dataclass
class _Run:
    dispatcher: Dispatcher
    owned: set[str] = field(default_factory=set)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def report(self) -> ApplyReport:
        return ApplyReport(
            tuple(self.created), tuple(self.updated), tuple(self.deleted), tuple(self.unchanged), tuple(self.warnings)
        )

    async def apply(self, config: ConfigSet) -> None:
        state = self.dispatcher.state
        members = await state.redis.smembers(state.keys.config_owned)
        self.owned = {m.decode() if isinstance(m, bytes) else str(m) for m in members}
        problems = await preflight(config, self.dispatcher, self.owned)
        if problems:
            raise ConfigApplyError([str(problem) for problem in problems])
        await self._remove_dropped(config)
        if config.functions:  # before targets: PutTargets needs a function's URL mapping (router.delivery.functions)
            await state.redis.hset(state.keys.functions, mapping=dict(config.functions))
        for bus in config.buses:
            with entered(self._namespace(bus.placement)):
                await self._apply_bus(bus)
        for rule in config.rules:
            with entered(self._namespace(rule.placement)):
                await self._apply_rule(rule)
        for archive in config.archives:
            with entered(self._namespace(archive.placement)):
                await self._apply_archive(archive)

    # -- namespaces -------------------------------------------------------------------------------------------
    def _namespace(self, placement: Placement) -> Namespace:
        return placement.resolve(self.dispatcher.state.keys.home)

    def _here(self, name: str) -> str:
        """The key-layout name of resource `name` of the namespace being applied (router.keys `Keys.scoped`)."""
        state = self.dispatcher.state
        return state.keys.scoped(name, state.namespace)

    def _named(self, label: str) -> str:
        """A report label, with the namespace being applied when it is not the home one: `bus orders in
        111122223333/us-west-1`."""
        state = self.dispatcher.state
        return label if state.namespace == state.keys.home else f"{label} in {state.namespace}"

    # -- calls and ownership ---------------------------------------------------------------------------------
    async def _call(self, where: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.dispatcher.call(operation, body)
        except ServiceError as err:
            raise ConfigApplyError(f"{where}: {operation} failed: {err.code}: {err.message}") from err

    async def _own(self, member: str) -> None:
        if member not in self.owned:
            state = self.dispatcher.state
            await state.redis.sadd(state.keys.config_owned, member)
            self.owned.add(member)

    async def _disown(self, member: str) -> None:
        if member in self.owned:
            state = self.dispatcher.state
            await state.redis.srem(state.keys.config_owned, member)
            self.owned.discard(member)

    async def _create(self, member: str, where: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """Claim `member`, then call; a failed call gives the claim back (if this call made it)."""
        fresh = member not in self.owned
        await self._own(member)
        try:
            return await self._call(where, operation, body)
        except ConfigApplyError:
            if fresh:
                await self._disown(member)
            raise

    async def _describe(self, operation: str, body: dict[str, Any], where: str) -> dict[str, Any] | None:
        try:
            return await self.dispatcher.call(operation, body)
        except ResourceNotFoundException:
            return None
        except ServiceError as err:
            raise ConfigApplyError(f"{where}: {operation} failed: {err.code}: {err.message}") from err

    async def _targets(self, bus: str, rule: str, where: str) -> AsyncIterator[dict[str, Any]]:
        body: dict[str, Any] = {"Rule": rule, "EventBusName": bus}
        while True:
            page = await self._describe("ListTargetsByRule", body, where)
            if page is None:
                return
            for target in page.get("Targets", []):
                yield target
            token = page.get("NextToken")
            if not token:
                return
            body = {**body, "NextToken": token}

    # -- buses ------------------------------------------------------------------------------------------------
    async def _apply_bus(self, bus: BusConfig) -> None:
        where = f"{bus.file}: {bus.path}"
        current = await self._describe("DescribeEventBus", {"Name": bus.name}, where)
        if current is None:
            body: dict[str, Any] = {"Name": bus.name}
            if bus.description is not None:
                body["Description"] = bus.description
            if bus.tags:
                body["Tags"] = [{"Key": key, "Value": value} for key, value in bus.tags.items()]
            member = bus_member(self._here(bus.name))
            try:
                await self._create(member, where, "CreateEventBus", body)
            except ConfigApplyError as err:
                if not isinstance(err.__cause__, ResourceAlreadyExistsException):
                    raise
                # Another process applying the same files got there first: keep the claim, compare below.
                await self._own(member)
                current = await self._describe("DescribeEventBus", {"Name": bus.name}, where)
            else:
                self.created.append(self._named(bus.label))
                return
        tagged = current is not None and await self._tag_bus(bus, current, where)
        if current is not None and current.get("Description") != bus.description:
            body = {"Name": bus.name, "Description": bus.description or ""}
            try:
                await self.dispatcher.call("UpdateEventBus", body)
            except NotSupportedException:
                label = self._named(bus.label)
                self.warnings.append(f"{label}: description not updated: UpdateEventBus is not supported yet")
                return
            except ServiceError as err:
                raise ConfigApplyError(f"{where}: UpdateEventBus failed: {err.code}: {err.message}") from err
            self.updated.append(self._named(bus.label))
        elif tagged:
            self.updated.append(self._named(bus.label))
        else:
            self.unchanged.append(self._named(bus.label))

    async def _tag_bus(self, bus: BusConfig, current: dict[str, Any], where: str) -> bool:
        """Add the config's tags an existing bus lacks (or has another value for); True if any was."""
        if not bus.tags:
            return False
        try:
            listed = await self.dispatcher.call("ListTagsForResource", {"ResourceARN": current["Arn"]})
            have = {tag["Key"]: tag["Value"] for tag in listed.get("Tags", [])}
            wanted = [{"Key": k, "Value": v} for k, v in bus.tags.items() if have.get(k) != v]
            if wanted:
                await self.dispatcher.call("TagResource", {"ResourceARN": current["Arn"], "Tags": wanted})
        except ServiceError as err:
            raise ConfigApplyError(f"{where}: tagging the bus failed: {err.code}: {err.message}") from err
        return bool(wanted)

    # -- rules and targets ------------------------------------------------------------------------------------
    async def _apply_rule(self, rule: RuleConfig) -> None:
        where = f"{rule.file}: {rule.path}"
        current = await self._describe("DescribeRule", {"Name": rule.name, "EventBusName": rule.bus}, where)
        wanted: dict[str, Any] = {"Name": rule.name, "EventBusName": rule.bus, "State": rule.state}
        if rule.pattern is not None:
            wanted["EventPattern"] = rule.pattern
        if rule.schedule is not None:
            wanted["ScheduleExpression"] = rule.schedule
        if rule.description is not None:
            wanted["Description"] = rule.description
        if current is None:
            await self._create(rule_member(self._here(rule.bus), rule.name), where, "PutRule", wanted)
            self.created.append(self._named(rule.label))
        elif _rule_differs(current, wanted):
            await self._call(where, "PutRule", wanted)
            self.updated.append(self._named(rule.label))
        else:
            self.unchanged.append(self._named(rule.label))
        await self._apply_targets(rule, where)

    async def _apply_targets(self, rule: RuleConfig, where: str) -> None:
        existing = {t["Id"]: t async for t in self._targets(rule.bus, rule.name, where)}
        declared = {t.id for t in rule.targets}
        bus_key = self._here(rule.bus)
        dropped = sorted(
            target_id
            for target_id in existing
            if target_id not in declared and target_member(bus_key, rule.name, target_id) in self.owned
        )
        if dropped:  # first, so the 5-target limit counts only what stays
            await self._remove_targets(bus_key, rule.bus, rule.name, dropped, where)
        new: list[TargetConfig] = []
        changed: list[TargetConfig] = []
        for target in rule.targets:
            current = existing.get(target.id)
            if current is None:
                new.append(target)
            elif _without_nulls(current) != target.request():
                changed.append(target)
            else:
                self.unchanged.append(self._named(f"target {rule.bus}/{rule.name}/{target.id}"))
        if not new and not changed:
            return
        body = {"Rule": rule.name, "EventBusName": rule.bus, "Targets": [t.request() for t in [*new, *changed]]}
        members = [target_member(bus_key, rule.name, t.id) for t in new]
        fresh = [m for m in members if m not in self.owned]
        for member in members:
            await self._own(member)
        try:
            answer = await self._call(where, "PutTargets", body)
            _check_failed_entries(where, "PutTargets", answer)
        except ConfigApplyError:
            for member in fresh:
                await self._disown(member)
            raise
        self.created.extend(self._named(f"target {rule.bus}/{rule.name}/{t.id}") for t in new)
        self.updated.extend(self._named(f"target {rule.bus}/{rule.name}/{t.id}") for t in changed)

    async def _remove_targets(self, bus_key: str, bus: str, rule: str, ids: list[str], where: str) -> None:
        """Remove targets `ids` of rule `rule` of bus `bus` (key-layout name `bus_key`) of the current namespace."""
        body = {"Rule": rule, "EventBusName": bus, "Ids": ids}
        answer = await self._call(where, "RemoveTargets", body)
        _check_failed_entries(where, "RemoveTargets", answer)
        for target_id in ids:
            await self._disown(target_member(bus_key, rule, target_id))
            self.deleted.append(self._named(f"target {bus}/{rule}/{target_id}"))

    # -- archives ---------------------------------------------------------------------------------------------
    async def _apply_archive(self, archive: ArchiveConfig) -> None:
        """Create the archive, or update its description, pattern and retention to match (its bus is fixed)."""
        where = f"{archive.file}: {archive.path}"
        state = self.dispatcher.state
        source = f"arn:aws:events:{state.region}:{state.account_id}:event-bus/{archive.bus}"
        wanted: dict[str, Any] = {"ArchiveName": archive.name, "RetentionDays": archive.retention_days}
        if archive.description is not None:
            wanted["Description"] = archive.description
        if archive.pattern is not None:
            wanted["EventPattern"] = archive.pattern
        current = await self._describe("DescribeArchive", {"ArchiveName": archive.name}, where)
        if current is None:
            member = archive_member(self._here(archive.name))
            await self._create(member, where, "CreateArchive", {**wanted, "EventSourceArn": source})
            self.created.append(self._named(archive.label))
            return
        if current.get("EventSourceArn") != source:
            raise ConfigApplyError(
                f"{where}: archive {archive.name} archives {current.get('EventSourceArn')}, not bus {archive.bus}: "
                "an archive's bus cannot change (delete the archive first)"
            )
        changed = {k: v for k, v in wanted.items() if k != "ArchiveName" and current.get(k) != v}
        if archive.pattern is None and current.get("EventPattern"):
            changed["EventPattern"] = ""
        if archive.description is None and current.get("Description"):
            changed["Description"] = ""
        if not changed:
            self.unchanged.append(self._named(archive.label))
            return
        await self._call(where, "UpdateArchive", {"ArchiveName": archive.name, **changed})
        self.updated.append(self._named(archive.label))

    # -- removal of what the files no longer declare -----------------------------------------------------------
    # Each owned member names its resource by key-layout name: the removal runs in that name's namespace, with the
    # member kept as it is stored (so it is the one taken back).
    async def _remove_archive(self, key: str, name: str) -> None:
        where = self._named(f"archive {name}") + " (no longer in the config)"
        if await self._describe("DescribeArchive", {"ArchiveName": name}, where) is not None:
            await self._call(where, "DeleteArchive", {"ArchiveName": name})
            self.deleted.append(self._named(f"archive {name}"))
        await self._disown(archive_member(key))

    def _read(self, member: str, key: str) -> tuple[Namespace, str] | None:
        """(namespace, name) of the key-layout name `key` of owned `member`; None (and a warning) for one that
        cannot be read, which apply leaves alone."""
        try:
            return self.dispatcher.state.keys.unscoped(key)
        except UnreadableName as err:
            self.warnings.append(f"config-owned member {member!r} left alone: {err}")
            return None

    async def _remove_dropped(self, config: ConfigSet) -> None:
        keys = self.dispatcher.state.keys
        declared_archives = {keys.scoped(a.name, self._namespace(a.placement)) for a in config.archives}
        for member in sorted(self.owned):
            kind, _, key = member.partition(":")
            if kind == "archive" and key not in declared_archives and (read := self._read(member, key)):
                with entered(read[0]):
                    await self._remove_archive(key, read[1])  # first: an archive's managed rule keeps its bus
        declared_rules = {(keys.scoped(r.bus, self._namespace(r.placement)), r.name) for r in config.rules}
        declared_buses = {keys.scoped(b.name, self._namespace(b.placement)) for b in config.buses}
        owned_targets: dict[tuple[str, str], list[str]] = {}
        owned_rules: set[tuple[str, str]] = set()
        owned_buses: set[str] = set()
        for member in self.owned:
            kind, _, rest = member.partition(":")
            if kind == "target":
                bus, rule, target_id = rest.split(":", 2)
                owned_targets.setdefault((bus, rule), []).append(target_id)
            elif kind == "rule":
                bus, rule = rest.split(":", 1)
                owned_rules.add((bus, rule))
            elif kind == "bus":
                owned_buses.add(rest)
        # Targets of rules the files still declare are reconciled in _apply_targets.
        for bus_key, rule in sorted((owned_rules | set(owned_targets)) - declared_rules):
            if read := self._read(rule_member(bus_key, rule), bus_key):
                with entered(read[0]):
                    ids = owned_targets.get((bus_key, rule), [])
                    await self._remove_rule(bus_key, read[1], rule, ids, (bus_key, rule) in owned_rules)
        for bus_key in sorted(owned_buses - declared_buses):
            if read := self._read(bus_member(bus_key), bus_key):
                with entered(read[0]):
                    await self._remove_bus(bus_key, read[1])

    async def _remove_rule(
        self, bus_key: str, bus: str, rule: str, owned_target_ids: list[str], owns_rule: bool
    ) -> None:
        label = self._named(f"rule {bus}/{rule}")
        where = f"{label} (no longer in the config)"
        existing = [t["Id"] async for t in self._targets(bus, rule, where)]
        ours = sorted(set(existing) & set(owned_target_ids))
        if ours:
            await self._remove_targets(bus_key, bus, rule, ours, where)
        for gone in set(owned_target_ids) - set(existing):  # removed over the API meanwhile
            await self._disown(target_member(bus_key, rule, gone))
        if not owns_rule:
            return
        others = sorted(set(existing) - set(ours))
        if others:
            self.warnings.append(f"{label} kept: it has targets created over the API ({', '.join(others)})")
            return
        if await self._describe("DescribeRule", {"Name": rule, "EventBusName": bus}, where) is not None:
            await self._call(where, "DeleteRule", {"Name": rule, "EventBusName": bus})
            self.deleted.append(label)
        await self._disown(rule_member(bus_key, rule))

    async def _remove_bus(self, bus_key: str, bus: str) -> None:
        label = self._named(f"bus {bus}")
        where = f"{label} (no longer in the config)"
        if await self._describe("DescribeEventBus", {"Name": bus}, where) is not None:
            rules = await self._rule_names(bus, where)
            if rules:
                self.warnings.append(f"{label} kept: it has rules the config did not create ({', '.join(rules)})")
                return
            await self._call(where, "DeleteEventBus", {"Name": bus})
            self.deleted.append(label)
        await self._disown(bus_member(bus_key))

    async def _rule_names(self, bus: str, where: str) -> list[str]:
        names: list[str] = []
        body: dict[str, Any] = {"EventBusName": bus}
        while True:
            page = await self._call(where, "ListRules", body)
            names.extend(r["Name"] for r in page.get("Rules", []))
            token = page.get("NextToken")
            if not token:
                return names
            body = {**body, "NextToken": token}


def _rule_differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether PutRule(wanted) would change the stored rule (PutRule replaces: unset members become null)."""
    for key in ("EventPattern", "State", "Description", "ScheduleExpression", "RoleArn"):
        if current.get(key) != wanted.get(key):
            return True
    return False


def _without_nulls(target: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in target.items() if value is not None}


def _check_failed_entries(where: str, operation: str, answer: dict[str, Any]) -> None:
    failed = answer.get("FailedEntries") or []
    if failed:
        detail = "; ".join(
            f"{entry.get('TargetId')}: {entry.get('ErrorCode')}: {entry.get('ErrorMessage')}" for entry in failed
        )
        raise ConfigApplyError(f"{where}: {operation} failed: {detail}")
