"""Loading config files: every mistake is reported, each naming the file, the path in it and the reason.

Unit tests: no Redis. Messages are asserted exactly, since they are what a user reads.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from router.config import ConfigError, ConfigSet, Placement, load_dir, load_text, validate_command
from router.delivery.transports import service_of
from router.namespace import DEFAULT as HOME_NS
from router.namespace import Namespace

REPO = Path(__file__).resolve().parents[2]

GOOD = """
buses:
  - name: orders
    description: Orders
rules:
  - name: placed
    bus: orders
    pattern:
      source: [shop.orders]
      detail-type: [OrderPlaced]
    targets:
      - Id: q
        Arn: arn:aws:sqs:us-east-1:123456789012:order-events
"""


def errors(text: str, name: str = "orders.yaml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(name, text)
    return [str(p) for p in info.value.problems]


def rule(body: str) -> str:
    """A file with one rule on the default bus; `body` is extra YAML indented under the rule."""
    return "rules:\n  - name: r\n    pattern: {source: [a]}\n" + body


def targets(count: int) -> str:
    return "".join(f"      - Id: t{i}\n        Arn: arn:aws:sqs:us-east-1:123456789012:q{i}\n" for i in range(count))


# -- what a good file becomes ----------------------------------------------------------------------------------


def test_good_file_loads_into_frozen_typed_config() -> None:
    config = load_text("orders.yaml", GOOD)
    assert [b.name for b in config.buses] == ["orders"]
    (placed,) = config.rules
    assert (placed.name, placed.bus, placed.state, placed.description) == ("placed", "orders", "ENABLED", None)
    assert placed.pattern == '{"source":["shop.orders"],"detail-type":["OrderPlaced"]}'
    assert [t.request() for t in placed.targets] == [
        {"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:order-events"}
    ]
    assert (placed.file, placed.path) == ("orders.yaml", "rules[0]")
    with pytest.raises(AttributeError):
        placed.name = "other"  # type: ignore[misc]


def test_rule_defaults_to_the_default_bus_and_enabled() -> None:
    (r,) = load_text("a.yaml", rule("")).rules
    assert (r.bus, r.state) == ("default", "ENABLED")


def test_pattern_as_json_string_is_kept_exactly() -> None:
    text = 'rules:\n  - name: r\n    pattern: \'{"source":  ["a"]}\'\n'
    (r,) = load_text("a.yaml", text).rules
    assert r.pattern == '{"source":  ["a"]}'


def test_yaml_1_1_scalars_stay_strings_in_patterns() -> None:
    text = "rules:\n  - name: r\n    pattern: {detail: {answer: [yes, on, 'no'], day: [2024-01-02], at: [12:30]}}\n"
    (r,) = load_text("a.yaml", text).rules
    assert r.pattern is not None
    assert json.loads(r.pattern) == {"detail": {"answer": ["yes", "on", "no"], "day": ["2024-01-02"], "at": ["12:30"]}}


def test_empty_file_declares_nothing() -> None:
    assert load_text("empty.yaml", "# nothing yet\n") == ConfigSet(files=("empty.yaml",))


# -- YAML syntax -----------------------------------------------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line() -> None:
    text = "rules:\n  - name: r\n    pattern: {source: [a]\n"
    assert errors(text) == [
        "orders.yaml: line 4: YAML syntax error: while parsing a flow mapping, "
        "expected ',' or '}', but got '<stream end>'"
    ]


def test_duplicate_yaml_key_is_an_error_not_an_overwrite() -> None:
    text = "rules:\n  - name: r\n    name: s\n    pattern: {source: [a]}\n"
    assert errors(text) == [
        "orders.yaml: line 3: YAML syntax error: while constructing a mapping, found duplicate key 'name'"
    ]


# -- schema ----------------------------------------------------------------------------------------------------


def test_top_level_must_be_a_mapping() -> None:
    assert errors("- name: r\n") == ["orders.yaml: expected a mapping, got a list"]


def test_unknown_keys_are_named_with_their_path() -> None:
    text = rule(
        "    enabled: true\n    targets:\n"
        "      - Id: t\n        Arn: arn:aws:sqs:us-east-1:123456789012:q\n        Retry: 3\n"
    )
    assert errors(text) == [
        "orders.yaml: rules[0].enabled: unknown key; allowed keys are name, bus, description, state, pattern, "
        "schedule, targets",
        "orders.yaml: rules[0].targets[0].Retry: unknown key; allowed keys are Id, Arn, RoleArn, Input, InputPath, "
        "InputTransformer, KinesisParameters, RunCommandParameters, EcsParameters, BatchParameters, SqsParameters, "
        "HttpParameters, RedshiftDataParameters, SageMakerPipelineParameters, DeadLetterConfig, RetryPolicy, "
        "AppSyncParameters",
    ]


def test_schema_violations_are_all_reported_in_file_order() -> None:
    text = """
buses:
  - description: no name
rules:
  - name: bad name
    state: ON
    pattern: 42
  - name: ok
    pattern: {source: [a]}
    targets:
      - Id: t
        RetryPolicy: {MaximumRetryAttempts: 200, MaximumEventAgeInSeconds: 10}
"""
    assert errors(text) == [
        "orders.yaml: buses[0].name: required key is missing",
        "orders.yaml: rules[0].name: 'bad name' does not match the pattern ^[\\.\\-_A-Za-z0-9]+$",
        "orders.yaml: rules[0].state: must be one of ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS;"
        " got 'ON'",
        "orders.yaml: rules[0].pattern: expected a mapping or a string, got an integer",
        "orders.yaml: rules[1].targets[0].RetryPolicy.MaximumRetryAttempts: must be at most 185; got 200",
        "orders.yaml: rules[1].targets[0].RetryPolicy.MaximumEventAgeInSeconds: must be at least 60; got 10",
        "orders.yaml: rules[1].targets[0].Arn: required key is missing",
    ]


def test_wrong_types_and_lengths() -> None:
    text = rule(f"    description: {'x' * 513}\n    targets:\n      - Id: ''\n        Arn: [not, a, string]\n")
    assert errors(text) == [
        "orders.yaml: rules[0].description: must be at most 512 characters long; got 513",
        "orders.yaml: rules[0].targets[0].Id: must be at least 1 characters long",
        "orders.yaml: rules[0].targets[0].Id: '' does not match the pattern ^(?:[\\.\\-_A-Za-z0-9]+)$",
        "orders.yaml: rules[0].targets[0].Arn: expected a string, got a list",
    ]


def test_archives_load_with_their_defaults_and_their_problems_have_paths() -> None:
    (archive,) = load_text("orders.yaml", "archives:\n  - name: all-orders\n").archives
    assert (archive.name, archive.bus, archive.pattern, archive.retention_days) == ("all-orders", "default", None, 0)
    assert errors("archives:\n  - name: a\n    retention: 3\n")[0].startswith("orders.yaml: archives[0]")


# -- semantics -------------------------------------------------------------------------------------------------


def test_scheduled_rules_load_with_or_without_a_pattern() -> None:
    text = (
        "rules:\n  - name: tick\n    schedule: rate(5 minutes)\n"
        "  - name: both\n    schedule: cron(0 12 * * ? *)\n    pattern: {source: [a]}\n"
    )
    tick, both = load_text("orders.yaml", text).rules
    assert (tick.bus, tick.schedule, tick.pattern) == ("default", "rate(5 minutes)", None)
    assert (both.schedule, both.pattern) == ("cron(0 12 * * ? *)", '{"source":["a"]}')


def test_bad_schedules_get_eventbridges_messages() -> None:
    text = """
buses:
  - name: orders
rules:
  - name: a
    schedule: rate(1 minutes)
  - name: b
    schedule: cron(0 1 * * * *)
  - name: c
    bus: orders
    schedule: rate(5 minutes)
  - name: d
    schedule: at(2030-01-01T00:00:00)
"""
    assert errors(text) == [
        "orders.yaml: rules[0].schedule: Parameter ScheduleExpression is not valid.",
        "orders.yaml: rules[1].schedule: Parameter ScheduleExpression is not valid.",
        "orders.yaml: rules[2].schedule: ScheduleExpression is supported only on the default event bus.",
        "orders.yaml: rules[3].schedule: Parameter ScheduleExpression is not valid.",
    ]


def test_bad_pattern_gets_eventbridges_message() -> None:
    text = "rules:\n  - name: r\n    pattern: {time: [{prefix: 123}]}\n"
    assert errors(text) == [
        "orders.yaml: rules[0].pattern: Event pattern is not valid. Reason: prefix match pattern must be a string"
    ]


def test_pattern_length_is_limited_as_put_rule_does() -> None:
    text = 'rules:\n  - name: r\n    pattern: \'{"source": ["' + "a" * 4090 + "\"]}'\n"
    assert errors(text) == [
        "orders.yaml: rules[0].pattern: Event pattern is not valid. Reason: "
        "Event pattern is longer than 4096 characters"
    ]


def test_pattern_keys_must_be_strings() -> None:
    text = "rules:\n  - name: r\n    pattern: {detail: {1: [a]}}\n"
    assert errors(text) == ["orders.yaml: rules[0].pattern: pattern keys must be strings; quote 1"]


def test_more_than_five_targets() -> None:
    assert errors(rule("    targets:\n" + targets(6))) == [
        "orders.yaml: rules[0].targets: a rule can have at most 5 targets; found 6"
    ]


def test_target_input_is_checked_as_put_targets_does() -> None:
    text = rule(
        "    targets:\n"
        "      - Id: both\n        Arn: arn:aws:sqs:us-east-1:123456789012:q\n        Input: '{}'\n"
        "        InputPath: $.detail\n"
        "      - Id: notjson\n        Arn: arn:aws:sqs:us-east-1:123456789012:q\n        Input: '{oops'\n"
    )
    assert errors(text) == [
        "orders.yaml: rules[0].targets[0]: Only one of Input, InputPath, or InputTransformer must be provided for "
        "target both.",
        "orders.yaml: rules[0].targets[1]: Input for target notjson is not a valid JSON text.",
    ]


def test_duplicate_names_within_and_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "buses: [{name: orders}]\n"
        "rules:\n  - name: r\n    bus: orders\n    pattern: {source: [a]}\n"
        "    targets:\n      - {Id: t, Arn: 'arn:aws:sqs:us-east-1:123456789012:q'}\n"
        "      - {Id: t, Arn: 'arn:aws:sqs:us-east-1:123456789012:q2'}\n"
    )
    (tmp_path / "b.yml").write_text(
        "buses: [{name: orders}, {name: default}]\n"
        "rules:\n  - {name: r, bus: orders, pattern: {source: [b]}}\n  - {name: r, pattern: {source: [b]}}\n"
    )
    (tmp_path / "notes.txt").write_text("not a config file: ignored")
    a, b = tmp_path / "a.yaml", tmp_path / "b.yml"
    with pytest.raises(ConfigError) as info:
        load_dir(tmp_path)
    assert [str(p) for p in info.value.problems] == [
        f"{a}: rules[0].targets[1].Id: duplicate target id 't'; first declared at rules[0].targets[0]",
        f"{b}: buses[0].name: duplicate bus 'orders'; first declared at {a}: buses[0]",
        f"{b}: buses[1].name: the default bus always exists; do not declare it",
        f"{b}: rules[0].name: duplicate rule 'r' on bus 'orders'; first declared at {a}: rules[0]",
    ]


def test_cloudtrail_state_only_on_the_default_bus() -> None:
    text = (
        "buses: [{name: orders}]\n"
        "rules:\n  - {name: r, bus: orders, state: ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS, pattern: {a: [1]}}\n"
    )
    assert errors(text) == [
        "orders.yaml: rules[0].state: ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS is allowed on the default bus only"
    ]


def test_missing_directory() -> None:
    with pytest.raises(ConfigError) as info:
        load_dir("/nonexistent/config")
    assert str(info.value) == "/nonexistent/config: not a directory"


# -- validate_command ------------------------------------------------------------------------------------------


def test_validate_command_prints_each_error_on_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "orders.yaml").write_text("rules:\n  - name: r\n  - name: s\n    pattern: {a: [1]}\n    x: 1\n")
    out = io.StringIO()
    assert validate_command(tmp_path, out=out) == 4  # ExitCode.CONFIG_INVALID
    assert out.getvalue().splitlines() == [
        f"{tmp_path}/orders.yaml: rules[0].pattern: required key is missing; a rule needs pattern or schedule (or "
        "both)",
        f"{tmp_path}/orders.yaml: rules[1].x: unknown key; allowed keys are name, bus, description, state, pattern, "
        "schedule, targets",
    ]


def test_shipped_example_config_is_valid() -> None:
    out = io.StringIO()
    assert validate_command(REPO / "config", out=out) == 0, out.getvalue()
    assert out.getvalue() == f"{REPO / 'config'}: OK (1 files, 1 buses, 3 rules, 3 targets)\n"
    config = load_dir(REPO / "config")
    # every target delivers somewhere a user can look on a fresh machine: a queue (`switchboard queue read`)
    assert {service_of(str(t.request()["Arn"])) for r in config.rules for t in r.targets} == {"queue"}
    assert {r.state for r in config.rules} == {"ENABLED", "DISABLED"}
    assert all(r.bus == "orders" for r in config.rules)


# -- accounts and regions: a file's namespace ---------------------------------------------------------------------

WEST = "account: '111122223333'\nregion: us-west-1\n"


def test_a_file_names_its_namespace_and_what_it_leaves_out_is_the_homes() -> None:
    config = load_text("west.yaml", WEST + GOOD + "archives:\n  - name: all\n    bus: orders\n")
    ((bus,), (rule,), (archive,)) = config.buses, config.rules, config.archives
    assert bus.placement == rule.placement == archive.placement == Placement("111122223333", "us-west-1")
    assert rule.placement.resolve(HOME_NS) == Namespace("111122223333", "us-west-1")
    assert load_text("home.yaml", GOOD).rules[0].placement == Placement()
    assert load_text("home.yaml", GOOD).rules[0].placement.resolve(HOME_NS) is HOME_NS
    region_only = load_text("r.yaml", "region: eu-west-1\n" + GOOD).rules[0].placement
    assert region_only.resolve(HOME_NS) == Namespace(HOME_NS.account_id, "eu-west-1")
    assert Placement(HOME_NS.account_id, HOME_NS.region).resolve(HOME_NS) is HOME_NS  # the home named: the home


def test_the_same_names_in_two_namespaces_are_two_declarations(tmp_path: Path) -> None:
    (tmp_path / "home.yaml").write_text(GOOD)
    (tmp_path / "west.yaml").write_text(WEST + GOOD)
    (tmp_path / "other.yaml").write_text("account: '444455556666'\n" + GOOD)
    config = load_dir(tmp_path)
    assert [(b.name, b.placement.resolve(HOME_NS)) for b in config.buses] == [
        ("orders", HOME_NS),
        ("orders", Namespace("444455556666", HOME_NS.region)),
        ("orders", Namespace("111122223333", "us-west-1")),
    ]
    assert len(config.rules) == 3


def test_duplicates_and_references_are_per_namespace(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(WEST + GOOD)
    (tmp_path / "b.yaml").write_text(WEST + GOOD)
    (tmp_path / "c.yaml").write_text("region: eu-west-1\nrules:" + GOOD.split("rules:")[1])  # no bus there
    with pytest.raises(ConfigError) as info:
        load_dir(tmp_path)
    c = tmp_path / "c.yaml"
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'b.yaml'}: buses[0].name: duplicate bus 'orders' in account 111122223333, region us-west-1; "
        f"first declared at {tmp_path / 'a.yaml'}: buses[0]",
        f"{tmp_path / 'b.yaml'}: rules[0].name: duplicate rule 'placed' on bus 'orders' in account 111122223333, "
        f"region us-west-1; first declared at {tmp_path / 'a.yaml'}: rules[0]",
        f"{c}: rules[0].bus: event bus 'orders' is not declared in the config in account 123456789012, region "
        "eu-west-1; declare it in buses (in any file of that account and region)",
    ]


def test_the_home_named_explicitly_is_the_home(tmp_path: Path) -> None:
    """A file naming the home account and region declares into the home namespace: the same bus declared by a file
    that names none is a duplicate (the home is the one given to load_dir, as serve and validate pass it)."""
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text("account: '999988887777'\nregion: eu-north-1\nbuses:\n  - name: orders\n")
    problems = [
        f"{tmp_path / 'b.yaml'}: buses[0].name: duplicate bus 'orders'; "
        f"first declared at {tmp_path / 'a.yaml'}: buses[0]"
    ]
    with pytest.raises(ConfigError) as info:
        load_dir(tmp_path, Namespace("999988887777", "eu-north-1"))
    assert [str(p) for p in info.value.problems] == problems
    assert len(load_dir(tmp_path).buses) == 2  # with the default home, b.yaml is another namespace
    out = io.StringIO()
    assert validate_command(tmp_path, out, home=Namespace("999988887777", "eu-north-1")) == 4
    assert out.getvalue().splitlines() == problems


def test_an_account_or_region_that_is_none_is_refused() -> None:
    assert errors("account: '1234'\nregion: Mars\n" + GOOD) == [
        "orders.yaml: account: '1234' does not match the pattern ^[0-9]{12}$",
        "orders.yaml: region: 'Mars' does not match the pattern ^[a-z]{2,}(-[a-z]+)+-[0-9]+$",
    ]
    assert errors("account: 111122223333\n" + GOOD) == ["orders.yaml: account: expected a string, got an integer"]
