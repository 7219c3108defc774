"""Input shaping (router.transform): Input, InputPath, InputTransformer and PutTargets validation.

The examples table is the EventBridge user guide's, "Amazon EventBridge input transformation" → "Input transform
examples" (awsdocs/amazon-eventbridge-user-guide, doc_source/eb-transform-target-input.md), with its sample EC2
event and InputPathsMap taken verbatim. Behaviours the guide leaves open (missing paths, `aws.events.event`'s
shape, error messages) follow runs recorded against AWS in LocalStack's AWS-validated snapshot
tests/aws/services/events/test_events_inputs.snapshot.json (recorded 2024-05 and 2024-06).
"""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from router.transform import (
    MAX_INPUT_BYTES,
    InputTooLarge,
    InvocationContext,
    input_limit_bytes,
    render_event,
    render_input,
    select_path,
    validate_target_input,
)

# The user guide's sample event, verbatim.
EC2_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}

# The user guide's Input Path, verbatim.
PATHS = {
    "timestamp": "$.time",
    "instance": "$.detail.instance-id",
    "state": "$.detail.state",
    "resource": "$.resources[0]",
}

# The guide's reserved-variables example uses rule "example" in us-east-2.
CONTEXT = InvocationContext(
    rule_arn="arn:aws:events:us-east-2:123456789012:rule/example",
    rule_name="example",
    ingestion_time=datetime(2015, 11, 11, 21, 29, 55, 123000, tzinfo=UTC),
)


def transform(template: str, paths: dict[str, str] | None = None, event: dict[str, Any] | None = None) -> str:
    shaping = {"InputPathsMap": PATHS if paths is None else paths, "InputTemplate": template}
    target = {"Id": "t1", "Arn": "arn", "InputTransformer": shaping}
    rendered = render_input(target, EC2_EVENT if event is None else event, CONTEXT)
    assert rendered is not None
    return rendered.decode()


# --- the user guide's examples table ----------------------------------------------------------------------


def test_guide_simple_string() -> None:
    assert transform('"instance <instance> is in <state>"') == '"instance i-0123456789 is in RUNNING"'


def test_guide_string_with_escaped_quotes() -> None:
    # The guide's console-form output; the escaped quotes stay escaped.
    assert transform(r'"instance \"<instance>\" is in <state>"') == r'"instance \"i-0123456789\" is in RUNNING"'


def test_guide_simple_json() -> None:
    template = '{\n  "instance" : <instance>,\n  "state": <state>\n}'
    assert orjson.loads(transform(template)) == {"instance": "i-0123456789", "state": "RUNNING"}


def test_guide_json_with_strings_and_variables() -> None:
    template = (
        '{\n "instance" : <instance>,\n "state": "<state>",\n'
        ' "instanceStatus": "instance \\"<instance>\\" is in <state>"\n}'
    )
    assert orjson.loads(transform(template)) == {
        "instance": "i-0123456789",
        "state": "RUNNING",
        "instanceStatus": 'instance "i-0123456789" is in RUNNING',
    }


def test_guide_json_with_a_mix_of_variables_and_static_information() -> None:
    template = '{\n  "instance" : <instance>,\n  "state": [ 9, <state>, true ],\n  "Transformed" : "Yes"\n}\n'
    assert orjson.loads(transform(template)) == {
        "instance": "i-0123456789",
        "state": [9, "RUNNING", True],
        "Transformed": "Yes",
    }


def test_guide_including_reserved_variables_in_json() -> None:
    template = (
        '{\n  "instance" : <instance>,\n  "state": <state>,\n  "ruleArn" : <aws.events.rule-arn>,\n'
        '  "ruleName" : <aws.events.rule-name>,\n  "originalEvent" : <aws.events.event>\n}'
    )
    out = orjson.loads(transform(template))
    assert out["instance"] == "i-0123456789"
    assert out["state"] == "RUNNING"
    assert out["ruleArn"] == "arn:aws:events:us-east-2:123456789012:rule/example"
    assert out["ruleName"] == "example"
    assert isinstance(out["originalEvent"], dict)
    assert "detail" not in out["originalEvent"]


def test_guide_including_reserved_variables_in_a_string() -> None:
    assert transform('"<aws.events.rule-name> triggered"') == '"example triggered"'


def test_guide_cloudwatch_log_group_template_is_rendered_as_json() -> None:
    # The guide's "Amazon CloudWatch log group" row shows how the log group displays the message (timestamp
    # unquoted, quotes unescaped). The payload itself follows the same rules as every other row.
    template = '{\n  "timestamp" : <timestamp>,\n  "message": "instance \\"<instance>\\" is in <state>"\n}'
    assert orjson.loads(transform(template)) == {
        "timestamp": "2015-11-11T21:29:54Z",
        "message": 'instance "i-0123456789" is in RUNNING',
    }


def test_model_doc_free_text_template_gets_raw_values() -> None:
    # The InputTransformer API doc's first example: "<instance> is in state <status>".
    assert transform("<instance> is in state <state>") == "i-0123456789 is in state RUNNING"


def test_json_output_is_minified() -> None:
    # Guide, common issues: "The JSON that is passed to the target is minified".
    assert transform('{ "a" : <state> ,\n "b": [ 1, 2 ] }') == '{"a":"RUNNING","b":[1,2]}'


# --- predefined variables -----------------------------------------------------------------------------


def test_rule_arn_and_rule_name() -> None:
    assert transform('"<aws.events.rule-arn> <aws.events.rule-name>"', paths={}) == (
        '"arn:aws:events:us-east-2:123456789012:rule/example example"'
    )


def test_ingestion_time_is_iso8601_utc_seconds() -> None:
    assert transform('{"t": <aws.events.event.ingestion-time>}', paths={}) == '{"t":"2015-11-11T21:29:55Z"}'


def test_event_is_the_event_without_detail_with_detail_type_as_detailType() -> None:
    # AWS (LocalStack snapshot test_input_transformer_predefined_variables): detail dropped, detailType key.
    out = orjson.loads(transform('{"e": <aws.events.event>}', paths={}))
    expected = {("detailType" if k == "detail-type" else k): v for k, v in EC2_EVENT.items() if k != "detail"}
    assert out == {"e": expected}


def test_event_json_is_the_full_event() -> None:
    assert orjson.loads(transform('{"e": <aws.events.event.json>}', paths={})) == {"e": EC2_EVENT}


def test_predefined_variables_are_not_escaped_inside_strings() -> None:
    # Guide: aws.events.event(.json) "can only be used as a JSON field value, as its content isn't escaped".
    out = transform('{"e": "<aws.events.event.json>"}', paths={})
    assert out.startswith('{"e": "{"version":"0"')


# --- quoting -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "bare", "quoted"),
    [
        ("text", '"text"', "text"),
        (42, "42", "42"),
        (1.5, "1.5", "1.5"),
        (True, "true", "true"),
        (None, "null", "null"),
        ([1, "a"], '[1,"a"]', '[1,"a"]'),
        ({"k": 1}, '{"k":1}', '{"k":1}'),
    ],
)
def test_bare_placeholder_is_json_and_quoted_placeholder_is_raw_text(value: Any, bare: str, quoted: str) -> None:
    event = {**EC2_EVENT, "detail": {"v": value}}
    assert transform("[<v>]", paths={"v": "$.detail.v"}, event=event) == f"[{bare}]"
    assert transform('"x <v> y"', paths={"v": "$.detail.v"}, event=event) == f'"x {quoted} y"'


def test_raw_splice_does_not_escape_and_is_delivered_as_is_when_not_json() -> None:
    event = {**EC2_EVENT, "detail": {"v": 'say "hi"'}}
    assert transform('{"m": "<v>"}', paths={"v": "$.detail.v"}, event=event) == '{"m": "say "hi""}'


def test_bare_string_values_are_json_escaped() -> None:
    event = {**EC2_EVENT, "detail": {"v": 'say "hi"\n'}}
    assert orjson.loads(transform('{"m": <v>}', paths={"v": "$.detail.v"}, event=event)) == {"m": 'say "hi"\n'}


def test_angle_brackets_that_are_not_variables_stay() -> None:
    assert transform('"a < b and <state> > c <nope x>"') == '"a < b and RUNNING > c <nope x>"'


# --- missing paths -----------------------------------------------------------------------------------


def test_missing_path_in_a_string_renders_nothing() -> None:
    # AWS (snapshot "custom-variables-not-match-all", string template): "... from detail ".
    paths = {"command": "$.detail.notinmessage"}
    assert transform('"info <command>"', paths=paths) == '"info "'


def test_missing_path_as_a_bare_json_value_renders_an_empty_string() -> None:
    # AWS (snapshot "custom-variables-not-match-all", JSON template): "command": "".
    paths = {"command": "$.detail.notinmessage", "timestamp": "$.time"}
    assert transform('{"time": <timestamp>, "command": <command>}', paths=paths) == (
        '{"time":"2015-11-11T21:29:54Z","command":""}'
    )


def test_input_path_selecting_nothing_delivers_nothing() -> None:
    assert render_input({"Id": "t", "InputPath": "$.detail.nope"}, EC2_EVENT, CONTEXT) is None


# --- Input, InputPath, default ----------------------------------------------------------------------


def test_no_shaping_delivers_the_whole_event() -> None:
    rendered = render_input({"Id": "t", "Arn": "a"}, EC2_EVENT, CONTEXT)
    assert rendered is not None
    assert orjson.loads(rendered) == EC2_EVENT


def test_input_is_delivered_byte_for_byte() -> None:
    assert render_input({"Id": "t", "Input": '{ "a" : 1 }'}, EC2_EVENT, CONTEXT) == b'{ "a" : 1 }'


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.detail", {"instance-id": "i-0123456789", "state": "RUNNING"}),
        ("$.detail.state", "RUNNING"),
        ("$.resources[0]", "arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"),
        ("$", EC2_EVENT),
    ],
)
def test_input_path_selects_json(path: str, expected: Any) -> None:
    rendered = render_input({"Id": "t", "InputPath": path}, EC2_EVENT, CONTEXT)
    assert rendered is not None
    assert orjson.loads(rendered) == expected


def test_input_path_string_is_delivered_quoted() -> None:
    # AWS (snapshot test_put_events_with_input_path_max_level_depth): body "\"baz\"".
    assert render_input({"Id": "t", "InputPath": "$.detail.state"}, EC2_EVENT, CONTEXT) == b'"RUNNING"'


def test_select_path_subset() -> None:
    doc = {"detail": {"items": [{"x": 1}, {"x": 2}], "a/b": "slash", "1st": "digit", "m": {"p": 1, "q": 2}}}
    assert select_path(doc, "$.detail.items[1].x") == 2
    assert select_path(doc, "$.detail.items[*].x") == [1, 2]
    assert select_path(doc, "$.detail.m.*") == [1, 2]
    assert select_path(doc, "$.detail.a/b") == "slash"
    assert select_path(doc, "$.detail.1st") == "digit"
    assert select_path(doc, "$.detail.items[5]", default="none") == "none"
    assert select_path(doc, "$.detail.items.x") is None
    assert select_path(doc, "detail", default="bad") == "bad"
    assert select_path(doc, "$.detail..x", default="bad") == "bad"


# --- validation (PutTargets) ----------------------------------------------------------------------------


def target(**fields: Any) -> dict[str, Any]:
    return {"Id": "t1", "Arn": "arn:aws:sqs:us-east-1:123456789012:q", **fields}


def transformer(template: str, paths: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"InputTemplate": template}
    if paths is not None:
        body["InputPathsMap"] = paths
    return body


def test_valid_targets_pass() -> None:
    assert validate_target_input(target()) is None
    assert validate_target_input(target(Input='{"a": 1}')) is None
    assert validate_target_input(target(InputPath="$.detail")) is None
    assert validate_target_input(target(InputTransformer=transformer('"<aws.events.rule-name>"'))) is None
    assert validate_target_input(target(InputTransformer=transformer("<a>", {"a": "$.x"}))) is None


def test_paths_are_not_validated_at_put_targets() -> None:
    # Guide, common issues: "There is no validation when creating JSON path for your template."
    assert validate_target_input(target(InputTransformer=transformer("<a>", {"a": "not a path"}))) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"Input": "{}", "InputPath": "$.detail"},
        {"InputPath": "$.detail", "InputTransformer": {"InputTemplate": "x"}},
        {"Input": "{}", "InputTransformer": {"InputTemplate": "x"}},
    ],
)
def test_input_fields_are_mutually_exclusive(fields: dict[str, Any]) -> None:
    # AWS message (snapshot test_put_event_input_path_and_input_transformer).
    assert validate_target_input(target(**fields)) == (
        "Only one of Input, InputPath, or InputTransformer must be provided for target t1."
    )


def test_input_must_be_json() -> None:
    assert validate_target_input(target(Input="not json")) == "Input for target t1 is not a valid JSON text."


def test_undefined_placeholder() -> None:
    # AWS message (snapshot test_put_events_with_input_transformer_missing_keys).
    template = '"Event of <detail-type> type, with not defined key <notdefinedkey>"'
    fields = transformer(template, {"detail-type": "$.detail-type"})
    assert validate_target_input(target(InputTransformer=fields)) == (
        "InputTemplate for target t1 contains invalid placeholder notdefinedkey."
    )


@pytest.mark.parametrize("key", ["aws.events.rule-name", "AWS.custom", "aws.events.event"])
def test_reserved_keys(key: str) -> None:
    fields = transformer("x", {key: "$.detail"})
    assert validate_target_input(target(InputTransformer=fields)) == (
        f"InputPathsMap for target t1 contains reserved key {key}."
    )


@pytest.mark.parametrize("key", ["has space", "dot.ted", "", "x" * 257])
def test_key_pattern(key: str) -> None:
    fields = transformer("x", {key: "$.detail"})
    assert validate_target_input(target(InputTransformer=fields)) == (
        f"InputPathsMap for target t1 contains invalid key {key}."
    )


def test_at_most_100_variables() -> None:
    hundred = {f"v{i}": "$.detail" for i in range(100)}
    assert validate_target_input(target(InputTransformer=transformer("x", hundred))) is None
    fields = transformer("x", {**hundred, "v100": "$.detail"})
    assert validate_target_input(target(InputTransformer=fields)) == (
        "InputPathsMap for target t1 has more than 100 entries."
    )


# --- bounds: the size of a shaped input, and events of any depth PutEvents accepts -------------------------

BIG_DETAIL = {"blob": "x" * 260_000}
"""A 260 KB Detail (the issue's reproduction of an amplifying transformer)."""


def big_event(detail: Any) -> dict[str, Any]:
    return {**EC2_EVENT, "detail": detail}


def deep_detail(depth: int) -> dict[str, Any]:
    """A Detail nested `depth` levels deep, as PutEvents accepts up to 1000 (built without recursion)."""
    detail: dict[str, Any] = {"leaf": "v"}
    for _ in range(depth - 1):
        detail = {"a": detail}
    return detail


def deep_detail_text(depth: int) -> str:
    return '{"a":' * (depth - 1) + '{"leaf":"v"}' + "}" * (depth - 1)


def test_a_repeated_placeholder_cannot_amplify_past_the_input_limit() -> None:
    template = "[" + ",".join(["<a>"] * 2047) + "]"  # 2,047 copies of 260 KB: 532 MB if it were built
    target = {"Id": "amp", "InputTransformer": {"InputPathsMap": {"a": "$.detail"}, "InputTemplate": template}}
    tracemalloc.start()
    try:
        with pytest.raises(InputTooLarge) as raised:
            render_input(target, big_event(BIG_DETAIL), CONTEXT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(raised.value) == (
        f"The input for target amp is larger than {MAX_INPUT_BYTES} bytes, the most a target receives; "
        "it was not delivered."
    )
    assert peak < 10 * MAX_INPUT_BYTES  # building stopped at the limit: a few MiB (orjson's buffers), not 532 MB


def test_raw_placeholders_in_free_text_are_bounded_too() -> None:
    template = " ".join(["<a>"] * 10)
    target = {"Id": "t", "InputTransformer": {"InputPathsMap": {"a": "$.detail.blob"}, "InputTemplate": template}}
    with pytest.raises(InputTooLarge):
        render_input(target, big_event(BIG_DETAIL), CONTEXT)
    small = {"Id": "t", "InputTransformer": {"InputPathsMap": {"a": "$.detail.blob"}, "InputTemplate": "<a> <a>"}}
    assert render_input(small, big_event(BIG_DETAIL), CONTEXT) == ("x" * 260_000 + " " + "x" * 260_000).encode()


def test_the_limit_counts_bytes_not_characters() -> None:
    target = {"Id": "t", "InputTransformer": {"InputPathsMap": {"a": "$.detail.s"}, "InputTemplate": "<a>"}}
    event = big_event({"s": "é" * 600})  # 600 characters, 1,200 bytes
    with pytest.raises(InputTooLarge):
        render_input(target, event, CONTEXT, limit_bytes=1_199)
    assert render_input(target, event, CONTEXT, limit_bytes=1_200) == ("é" * 600).encode()


def test_input_path_and_whole_event_are_bounded() -> None:
    event = big_event(BIG_DETAIL)
    with pytest.raises(InputTooLarge):
        render_input({"Id": "t", "InputPath": "$.detail"}, event, CONTEXT, limit_bytes=100_000)
    with pytest.raises(InputTooLarge):
        render_input({"Id": "t"}, event, CONTEXT, limit_bytes=100_000)


def test_render_event_allows_an_event_larger_than_the_limit_to_be_selected_whole() -> None:
    event = big_event({"blob": "x" * (MAX_INPUT_BYTES + 10)})  # an event over 1 MiB, as a bus could receive
    raw = orjson.dumps(event)
    assert input_limit_bytes(len(raw)) == len(raw)
    assert input_limit_bytes(10) == MAX_INPUT_BYTES
    assert render_event({"Id": "t", "InputPath": "$"}, raw, CONTEXT) == raw
    amplify = {"Id": "t", "InputTransformer": {"InputPathsMap": {"a": "$.detail"}, "InputTemplate": "[<a>, <a>]"}}
    with pytest.raises(InputTooLarge):
        render_event(amplify, raw, CONTEXT)


def test_input_path_selects_a_detail_1000_levels_deep() -> None:
    rendered = render_input({"Id": "t", "InputPath": "$.detail"}, big_event(deep_detail(1000)), CONTEXT)
    assert rendered == deep_detail_text(1000).encode()


def test_input_transformer_renders_a_detail_1000_levels_deep() -> None:
    event = big_event(deep_detail(1000))
    paths = {"d": "$.detail", "inner": "$.detail.a.a.a"}
    template = '{ "whole" : <d>, "inner": [ <inner> ], "event": <aws.events.event.json> }'
    rendered = render_input(
        {"Id": "t", "InputTransformer": {"InputPathsMap": paths, "InputTemplate": template}}, event, CONTEXT
    )
    assert rendered is not None
    event_text = (
        orjson.dumps({**EC2_EVENT, "detail": 0}).decode().replace('"detail":0', f'"detail":{deep_detail_text(1000)}')
    )
    assert rendered.decode() == (
        f'{{"whole":{deep_detail_text(1000)},"inner":[{deep_detail_text(997)}],"event":{event_text}}}'
    )


def test_a_deep_template_around_a_deep_detail_is_minified() -> None:
    # 30 levels of template around 1000 levels of Detail: deeper than orjson's parser (1024) can go.
    template = "[ " * 30 + "<d>" + " ]" * 30
    target = {"Id": "t", "InputTransformer": {"InputPathsMap": {"d": "$.detail"}, "InputTemplate": template}}
    rendered = render_input(target, big_event(deep_detail(1000)), CONTEXT)
    assert rendered == ("[" * 30 + deep_detail_text(1000) + "]" * 30).encode()


def test_each_variable_is_encoded_once_however_often_it_repeats() -> None:
    template = "[" + ",".join(["<d>"] * 400) + "]"
    target = {"Id": "t", "InputTransformer": {"InputPathsMap": {"d": "$.detail"}, "InputTemplate": template}}
    rendered = render_input(target, big_event(deep_detail(300)), CONTEXT)  # deeper than orjson: the slow encoder
    assert rendered == ("[" + ",".join([deep_detail_text(300)] * 400) + "]").encode()
