"""Reading a config directory: YAML files -> JSON Schema -> semantic checks -> a frozen `ConfigSet`.

Every `*.yaml`/`*.yml` file directly in the directory is read, in name order. Loading never stops at the first
mistake: it collects every problem in every file and raises one `ConfigError` listing them all, each naming the
file and the path inside it (`rules[2].targets[0].Arn`), or the line for YAML syntax errors.

The YAML dialect is YAML 1.2-like on purpose: only `true`/`false` are booleans (so `on`, `no`, `y` stay strings),
dates and `12:30` stay strings, and a key repeated in one mapping is an error rather than a silent overwrite. Those
YAML 1.1 surprises would otherwise change event patterns behind the user's back.

Checks the schema cannot express come after it, on the files that pass it, so that `switchboard config validate`
(which needs no Redis) refuses everything applying the files would:
- duplicate buses, rules and target ids (across files too), the `default` bus declared, at most 5 targets per rule;
- references between declarations, across files: a rule's bus must be declared (or be `default`) in the same
  (account, region) namespace, and a function target's function must be in `functions:` (PutTargets refuses a
  function without a URL);
- the checks PutRule and PutTargets make, with the same code and messages: the model's constraints
  (`router.validation.validate_input` on the PutRule and PutTargets bodies), pattern validity (`patterns.validate`,
  its limits included), a target's ARN form and its Input, InputPath and InputTransformer
  (`router.api.targets.target_problems`).
What only the stored state can tell is checked when applying, before the first write (router.config.preflight).

A file may name an `account` and a `region` (router.namespace): its buses, rules and archives live in that
namespace, and a file that names neither (or a part it leaves out) is in the home namespace's. Duplicates and
references are checked per namespace, resolved against the `home` namespace given (the settings' account and
region), so two files may declare the same bus name in two namespaces.
A target Switchboard stores but cannot deliver to (SNS, Kinesis, ...) is a warning, not a problem.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

import patterns
from router.api.targets import target_problems
from router.config import schema as config_schema
from router.config.model import (
    ArchiveConfig,
    BusConfig,
    ConfigError,
    ConfigSet,
    Placement,
    Problem,
    RuleConfig,
    TargetConfig,
)
from router.delivery.functions import function_name
from router.delivery.transports import service_of
from router.errors import ServiceError
from router.namespace import DEFAULT, Namespace
from router.schedules.expressions import InvalidScheduleExpression, parse_rule_expression
from router.validation import validate_input

MAX_TARGETS_PER_RULE = 5


def load_dir(path: str | Path, home: Namespace = DEFAULT) -> ConfigSet:
    """Load and validate every config file in `path`; raise `ConfigError` listing every problem found. `home` is the
    home namespace (the settings' account and region) that files naming no account or region are in."""
    directory = Path(path)
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), "", "not a directory")])
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    loader = _Collector(home)
    for file in files:
        loader.add_file(str(file), file)
    return loader.result()


def load_text(name: str, text: str, home: Namespace = DEFAULT) -> ConfigSet:
    """Load one file's text (tests, tools); `name` is how errors refer to it."""
    loader = _Collector(home)
    loader.add_text(name, text)
    return loader.result()


class _Collector:
    """Accumulates declarations and problems across files."""

    def __init__(self, home: Namespace) -> None:
        self.home = home
        self.problems: list[Problem] = []
        self.files: list[str] = []
        self.buses: dict[tuple[Namespace, str], BusConfig] = {}
        self.rules: dict[tuple[Namespace, str, str], RuleConfig] = {}
        self.functions: dict[str, tuple[str, str]] = {}
        """function name -> (URL, file that declared it)."""
        self.warnings: list[Problem] = []
        self._rule_end: dict[tuple[Namespace, str, str], int] = {}
        """Where each rule's problems end in `problems` (its reference problems go there)."""
        self.archives: dict[tuple[Namespace, str], ArchiveConfig] = {}

    def result(self) -> ConfigSet:
        self._check_references()
        if self.problems:
            raise ConfigError(self.problems)
        functions = tuple((name, url) for name, (url, _) in sorted(self.functions.items()))
        return ConfigSet(
            buses=tuple(self.buses.values()),
            rules=tuple(self.rules.values()),
            files=tuple(self.files),
            functions=functions,
            warnings=tuple(self.warnings),
            archives=tuple(self.archives.values()),
        )

    def _check_references(self) -> None:
        """What one declaration says about another, across files: buses of rules, functions of targets. Each
        problem is listed with the rule's own (after them), so the output stays in file order."""
        declared = list(enumerate(self.rules))  # from the last rule back, so earlier insertions stay in place
        for _, key in sorted(declared, key=lambda item: (self._rule_end[item[1]], item[0]), reverse=True):
            rule = self.rules[key]
            found: list[Problem] = []
            if rule.bus != "default" and (key[0], rule.bus) not in self.buses:
                found.append(Problem(rule.file, f"{rule.path}.bus", self._undeclared_bus(rule.bus, key[0])))
            for target in rule.targets:
                name = function_name(str(target.request().get("Arn", "")))
                if name is not None and name not in self.functions:
                    reason = (
                        f"function {name} is not declared in functions: (in any file); PutTargets refuses a function "
                        "without a URL, since there is no Lambda here"
                    )
                    found.append(Problem(target.file, f"{target.path}.Arn", reason))
            end = self._rule_end[key]
            self.problems[end:end] = found
        for (namespace, _), archive in self.archives.items():
            if archive.bus != "default" and (namespace, archive.bus) not in self.buses:
                reason = self._undeclared_bus(archive.bus, namespace)
                self.problems.append(Problem(archive.file, f"{archive.path}.bus", reason))

    def _undeclared_bus(self, bus: str, namespace: Namespace) -> str:
        if namespace == self.home:
            return f"event bus {bus!r} is not declared in the config; declare it in buses (in any file)"
        return (
            f"event bus {bus!r} is not declared in the config in account {namespace.account_id}, region "
            f"{namespace.region}; declare it in buses (in any file of that account and region)"
        )

    def _in(self, namespace: Namespace) -> str:
        """How a duplicate's message names a namespace other than the home one."""
        return "" if namespace == self.home else f" in account {namespace.account_id}, region {namespace.region}"

    def add_file(self, name: str, file: Path) -> None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            self.problems.append(Problem(name, "", f"cannot read the file: {err}"))
            return
        self.add_text(name, text)

    def add_text(self, name: str, text: str) -> None:
        self.files.append(name)
        try:
            document = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader subclass
        except yaml.MarkedYAMLError as err:
            self.problems.append(Problem(name, _line(err), _yaml_reason(err)))
            return
        except yaml.YAMLError as err:
            self.problems.append(Problem(name, "", f"YAML error: {err}"))
            return
        if document is None:  # an empty file declares nothing
            return
        found = [Problem(name, where, reason) for where, reason in config_schema.problems(document)]
        if found:
            self.problems.extend(found)
            return
        for function, url in (document.get("functions") or {}).items():
            first = self.functions.setdefault(function, (url, name))
            if first[0] != url:
                where = f"functions.{function}"
                self.problems.append(Problem(name, where, f"declared again with another URL (first in {first[1]})"))
        placement = Placement(document.get("account"), document.get("region"))
        for i, bus in enumerate(document.get("buses", [])):
            self._add_bus(name, f"buses[{i}]", bus, placement)
        for i, rule in enumerate(document.get("rules", [])):
            self._add_rule(name, f"rules[{i}]", rule, placement)
        for i, archive in enumerate(document.get("archives", [])):
            self._add_archive(name, f"archives[{i}]", archive, placement)

    def _add_bus(self, file: str, path: str, bus: dict[str, Any], placement: Placement) -> None:
        name = bus["name"]
        if name == "default":
            self.problems.append(Problem(file, f"{path}.name", "the default bus always exists; do not declare it"))
            return
        key = (placement.resolve(self.home), name)
        if key in self.buses:
            first = self.buses[key]
            self._duplicate(file, f"{path}.name", f"bus {name!r}{self._in(key[0])}", first.file, first.path)
            return
        tags = dict(bus.get("tags") or {})
        self.buses[key] = BusConfig(name, bus.get("description"), file, path, tags, placement)

    def _add_rule(self, file: str, path: str, rule: dict[str, Any], placement: Placement) -> None:
        name, bus = rule["name"], rule.get("bus", "default")
        pattern = self._optional_pattern(file, path, rule)
        schedule: str | None = rule.get("schedule")
        if schedule is not None:
            reason = _schedule_problem(schedule, bus)
            if reason is not None:
                self.problems.append(Problem(file, f"{path}.schedule", reason))
        state = rule.get("state", "ENABLED")
        if state == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" and bus != "default":
            self.problems.append(Problem(file, f"{path}.state", f"{state} is allowed on the default bus only"))
        raw_targets: list[dict[str, Any]] = rule.get("targets", [])
        if len(raw_targets) > MAX_TARGETS_PER_RULE:
            reason = f"a rule can have at most {MAX_TARGETS_PER_RULE} targets; found {len(raw_targets)}"
            self.problems.append(Problem(file, f"{path}.targets", reason))
        self._check_request(file, path, "PutRule", _put_rule_body(name, bus, state, rule))
        if raw_targets:
            self._check_request(file, path, "PutTargets", {"Rule": name, "EventBusName": bus, "Targets": raw_targets})
        targets: dict[str, TargetConfig] = {}
        for i, target in enumerate(raw_targets):
            where = f"{path}.targets[{i}]"
            self.problems.extend(Problem(file, where, reason) for reason in target_problems(target))
            service = service_of(str(target["Arn"]))
            if service not in _DELIVERED:
                reason = (
                    f"warning: Switchboard does not deliver to {service or 'this kind of'} targets; every delivery "
                    "to this one fails (NO_RESOURCE, to its dead-letter queue if it has one)"
                )
                self.warnings.append(Problem(file, f"{where}.Arn", reason))
            if target["Id"] in targets:
                self._duplicate(file, f"{where}.Id", f"target id {target['Id']!r}", file, targets[target["Id"]].path)
                continue
            targets[target["Id"]] = TargetConfig(target["Id"], _canonical(target), file, where)
        key = (placement.resolve(self.home), bus, name)
        if key in self.rules:
            first = self.rules[key]
            what = f"rule {name!r} on bus {bus!r}{self._in(key[0])}"
            self._duplicate(file, f"{path}.name", what, first.file, first.path)
            return
        # Kept even when it has problems (the load fails anyway), so later duplicates of it are still reported.
        description = rule.get("description")
        self.rules[key] = RuleConfig(
            name, bus, pattern, state, description, tuple(targets.values()), file, path, schedule, placement
        )
        self._rule_end[key] = len(self.problems)

    def _check_request(self, file: str, path: str, operation: str, body: dict[str, Any]) -> None:
        """The model's constraints on the request applying this declaration sends (router.validation)."""
        try:
            validate_input(operation, body)
        except ServiceError as err:
            self.problems.append(Problem(file, path, f"{operation} would be refused: {err.message}"))

    def _add_archive(self, file: str, path: str, archive: dict[str, Any], placement: Placement) -> None:
        name = archive["name"]
        pattern = self._optional_pattern(file, path, archive)
        key = (placement.resolve(self.home), name)
        if key in self.archives:
            first = self.archives[key]
            self._duplicate(file, f"{path}.name", f"archive {name!r}{self._in(key[0])}", first.file, first.path)
            return
        self.archives[key] = ArchiveConfig(
            name,
            archive.get("bus", "default"),
            pattern,
            int(archive.get("retention_days", 0)),
            archive.get("description"),
            file,
            path,
            placement,
        )

    def _optional_pattern(self, file: str, path: str, declaration: dict[str, Any]) -> str | None:
        """The declaration's pattern as PutRule/CreateArchive takes it (None when it has none); a problem if refused."""
        if "pattern" not in declaration:
            return None
        pattern = _pattern_text(declaration["pattern"])
        reason = _pattern_problem(declaration["pattern"], pattern)
        if reason is not None:
            self.problems.append(Problem(file, f"{path}.pattern", reason))
        return pattern

    def _duplicate(self, file: str, where: str, what: str, first_file: str, first_path: str) -> None:
        also = first_path if first_file == file else f"{first_file}: {first_path}"
        self.problems.append(Problem(file, where, f"duplicate {what}; first declared at {also}"))


_DELIVERED = frozenset({"queue", "bus", "function", "api-destination"})
"""Target kinds router.delivery delivers (router.delivery.transports.service_of)."""


def _put_rule_body(name: str, bus: str, state: str, rule: dict[str, Any]) -> dict[str, Any]:
    """PutRule's body without its EventPattern, whose limits `patterns.validate` checks with PutRule's words."""
    body: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": state}
    if rule.get("description") is not None:
        body["Description"] = rule["description"]
    return body


# ---------------------------------------------------------------------------------------------------------------
# patterns


def _schedule_problem(schedule: str, bus: str) -> str | None:
    """Why PutRule would refuse this ScheduleExpression on `bus`, in EventBridge's words, or None."""
    if bus != "default":
        return "ScheduleExpression is supported only on the default event bus."
    try:
        parse_rule_expression(schedule)
    except InvalidScheduleExpression:
        return "Parameter ScheduleExpression is not valid."
    return None


def _pattern_text(pattern: dict[str, Any] | str) -> str:
    """The EventPattern string: a JSON string is kept exactly; a mapping becomes compact JSON in file order."""
    if isinstance(pattern, str):
        return pattern
    return json.dumps(pattern, separators=(",", ":"), ensure_ascii=False)


def _pattern_problem(raw: dict[str, Any] | str, text: str) -> str | None:
    """Why PutRule would refuse this pattern, in EventBridge's words, or None."""
    if isinstance(raw, dict):
        bad_key = _non_string_key(raw)
        if bad_key is not None:
            return f"pattern keys must be strings; quote {bad_key!r}"
    try:
        patterns.validate(text)
    except patterns.InvalidEventPattern as err:
        return err.message
    return None


def _non_string_key(value: Any) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return key
            found = _non_string_key(item)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _non_string_key(item)
            if found is not None:
                return found
    return None


def _canonical(target: dict[str, Any]) -> str:
    return json.dumps(target, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------------------------
# YAML


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-style scalars and duplicate keys refused (see the module docstring)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_DROPPED = {_BOOL, _INT, "tag:yaml.org,2002:timestamp"}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$"), list("-+0123456789"))


def _line(err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    return f"line {mark.line + 1}" if mark is not None else ""


def _yaml_reason(err: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (err.context, err.problem) if p]
    return "YAML syntax error: " + ", ".join(parts)
