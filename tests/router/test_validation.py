"""router.validation: model-driven input checks with AWS's exact ValidationException and SerializationException
texts."""

from __future__ import annotations

from typing import Any

import pytest

from router.errors import SerializationException, ValidationException
from router.validation import validate_input

NAME_PATTERN = r"[\.\-_A-Za-z0-9]+"


def validation_message(operation: str, body: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as info:
        validate_input(operation, body)
    return info.value.message


def serialization_message(operation: str, body: dict[str, Any]) -> str:
    with pytest.raises(SerializationException) as info:
        validate_input(operation, body)
    return info.value.message


def test_valid_request_passes() -> None:
    validate_input("PutRule", {"Name": "orders", "EventPattern": '{"source": ["a"]}', "State": "DISABLED"})


def test_pattern_violation_names_member_in_lower_camel_case() -> None:
    assert validation_message("PutRule", {"Name": "bad name!"}) == (
        "1 validation error detected: Value 'bad name!' at 'name' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {NAME_PATTERN}"
    )


def test_missing_required_member_is_null() -> None:
    assert validation_message("PutRule", {}) == (
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
    )


def test_json_null_counts_as_absent() -> None:
    assert "Value null at 'name'" in validation_message("PutRule", {"Name": None})
    validate_input("PutRule", {"Name": "r", "Description": None})


def test_several_violations_are_counted_and_joined_pattern_before_length() -> None:
    assert validation_message("PutRule", {"Name": "", "State": "ON"}) == (
        "3 validation errors detected: "
        "Value '' at 'name' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {NAME_PATTERN}; "
        "Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1; "
        "Value 'ON' at 'state' failed to satisfy constraint: Member must satisfy enum value set: "
        "[ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"
    )


def test_max_length() -> None:
    name = "r" * 65
    assert validation_message("PutRule", {"Name": name}) == (
        f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
        "Member must have length less than or equal to 64"
    )


def test_integer_range() -> None:
    assert validation_message("ListRules", {"Limit": 0}) == (
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )
    assert "Member must have value less than or equal to 100" in validation_message("ListRules", {"Limit": 101})


def test_nested_list_member_paths_are_one_based() -> None:
    body = {"Rule": "r", "Targets": [{"Id": "ok", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"}, {"Id": "t"}]}
    assert validation_message("PutTargets", body) == (
        "1 validation error detected: Value null at 'targets.2.member.arn' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_deeply_nested_structure_path() -> None:
    target = {"Id": "t", "Arn": "arn:aws:sqs:us-east-1:123456789012:q", "RetryPolicy": {"MaximumRetryAttempts": 186}}
    assert validation_message("PutTargets", {"Rule": "r", "Targets": [target]}) == (
        "1 validation error detected: Value '186' at 'targets.1.member.retryPolicy.maximumRetryAttempts' "
        "failed to satisfy constraint: Member must have value less than or equal to 185"
    )


def test_scalar_list_elements_are_reported_once_at_the_list() -> None:
    assert validation_message("RemoveTargets", {"Rule": "r", "Ids": ["ok", "no way"]}) == (
        "1 validation error detected: Value '[ok, no way]' at 'ids' failed to satisfy constraint: "
        f"Member must satisfy constraint: [Member must satisfy regular expression pattern: {NAME_PATTERN}]"
    )


def test_map_keys_are_checked() -> None:
    transformer = {"InputTemplate": "<a>", "InputPathsMap": {"bad key": "$.detail"}}
    target = {"Id": "t", "Arn": "arn:aws:sqs:us-east-1:123456789012:q", "InputTransformer": transformer}
    assert validation_message("PutTargets", {"Rule": "r", "Targets": [target]}) == (
        "1 validation error detected: Value '{bad key=$.detail}' at 'targets.1.member.inputTransformer.inputPathsMap' "
        "failed to satisfy constraint: Map keys must satisfy constraint: "
        r"[Member must satisfy regular expression pattern: [A-Za-z0-9\_\-]+]"
    )


def test_put_events_more_than_ten_entries_fails_whole_request() -> None:
    entry = {"Source": "s", "DetailType": "d", "Detail": "{}"}
    message = validation_message("PutEvents", {"Entries": [entry] * 11})
    assert message.startswith("1 validation error detected: Value '[PutEventsRequestEntry(time=null, source=s, ")
    assert message.endswith(
        "' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10"
    )
    assert message.count("PutEventsRequestEntry(") == 11


def test_put_events_empty_entries() -> None:
    assert validation_message("PutEvents", {"Entries": []}) == (
        "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_documented_ten_targets_per_put_targets_limit() -> None:
    targets = [{"Id": f"t{i}", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"} for i in range(11)]
    message = validation_message("PutTargets", {"Rule": "r", "Targets": targets})
    assert message.endswith(
        "' at 'targets' failed to satisfy constraint: Member must have length less than or equal to 10"
    )
    validate_input("PutTargets", {"Rule": "r", "Targets": targets[:10]})


def test_sensitive_values_are_not_echoed() -> None:
    params = {"Database": "d", "Sqls": [""]}
    target = {"Id": "t", "Arn": "arn:aws:redshift:x", "RedshiftDataParameters": params}
    message = validation_message("PutTargets", {"Rule": "r", "Targets": [target]})
    assert "Value at 'targets.1.member.redshiftDataParameters.sqls'" in message


def test_unknown_members_are_ignored() -> None:
    validate_input("PutRule", {"Name": "r", "Surprise": {"x": 1}})


@pytest.mark.parametrize(
    ("operation", "body", "message"),
    [
        ("PutRule", {"Name": 5}, "Member Name must be a string, not a number."),
        ("PutTargets", {"Rule": "r", "Targets": "t"}, "Member Targets must be a list, not a string."),
        ("PutTargets", {"Rule": "r", "Targets": ["t"]}, "Member Targets[0] must be an object, not a string."),
        ("ListRules", {"Limit": "5"}, "Member Limit must be an integer, not a string."),
        ("ListRules", {"Limit": True}, "Member Limit must be an integer, not a boolean."),
        ("DeleteRule", {"Name": "r", "Force": "yes"}, "Member Force must be a boolean, not a string."),
        ("PutEvents", {"Entries": [{"Time": "2024-01-01"}]}, "Member Entries[0].Time must be a number, not a string."),
        (
            "PutTargets",
            {"Rule": "r", "Targets": [{"Id": "t", "Arn": "a", "InputTransformer": {"InputPathsMap": []}}]},
            "Member Targets[0].InputTransformer.InputPathsMap must be an object, not a list.",
        ),
    ],
)
def test_wrong_json_types_are_serialization_errors(operation: str, body: dict[str, Any], message: str) -> None:
    assert serialization_message(operation, body) == message


def test_operation_without_input_members_accepts_empty_body() -> None:
    validate_input("ListEventBuses", {})
