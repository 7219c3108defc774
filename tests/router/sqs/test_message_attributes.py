"""Message attributes: SQS's checks, and the MD5 digests SQS computes (checked against digests AWS returned)."""

from __future__ import annotations

import base64

import pytest

from router.sqs.errors import InvalidParameterValue
from router.sqs.message_attributes import (
    Attribute,
    attributes_from_fields,
    attributes_md5,
    attributes_size,
    attributes_to_fields,
    parse_attributes,
    select,
    to_wire,
)

# Digests AWS answered for these attributes (LocalStack's AWS-validated snapshots, recorded against SQS).
AWS_DIGESTS = [
    ({"General": "Kenobi", "Hello": "There", "Help.Me": "Me"}, "4c360f3fdafd970e05fae2f149d997f5"),
    ({"General": "Kenobi", "Hello": "There"}, "fca026605781cb4126a1e9044df24232"),
    ({"Hello": "There"}, "a311262e065454b75da111d535b8dacd"),
    ({"Hello": "There", "Help.Me": "Me"}, "83fee93c1bcd8b9a5a923ffacdc636c7"),
    ({"Foo": "Bar"}, "ae7155c6026991b6d54b11589678bf9c"),
]
TRACEPARENT = b"traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01"


@pytest.mark.parametrize(("values", "digest"), AWS_DIGESTS)
def test_string_attribute_digests_match_aws(values: dict[str, str], digest: str) -> None:
    assert attributes_md5({k: Attribute("String", v) for k, v in values.items()}) == digest


def test_binary_attribute_digest_matches_aws() -> None:
    assert attributes_md5({"attr1": Attribute("Binary", TRACEPARENT)}) == "8cbe4db156db8a94db8b801b7addb984"


def test_digest_depends_on_type_and_not_on_order() -> None:
    text = {"a": Attribute("String", "1"), "b": Attribute("String", "2")}
    number = {"a": Attribute("Number", "1"), "b": Attribute("String", "2")}
    assert attributes_md5(text) != attributes_md5(number)
    assert attributes_md5(dict(reversed(list(text.items())))) == attributes_md5(text)
    assert attributes_md5({}) is None


def test_parse_and_store_round_trip() -> None:
    parsed = parse_attributes(
        {
            "s": {"DataType": "String", "StringValue": "x"},
            "n": {"DataType": "Number.int", "StringValue": "-1.5e3"},
            "b": {"DataType": "Binary", "BinaryValue": base64.b64encode(TRACEPARENT).decode()},
        }
    )
    assert parsed["b"].value == TRACEPARENT
    fields = attributes_to_fields(parsed)
    assert fields["attributes"] == b'{"s":"x","n":"-1.5e3","b":"' + base64.b64encode(TRACEPARENT) + b'"}'
    assert fields["attribute_types"] == b'{"n":"Number.int","b":"Binary"}'
    assert attributes_from_fields(fields["attributes"], fields["attribute_types"]) == parsed
    assert attributes_size(parsed) == len("sStringx") + len("nNumber.int-1.5e3") + len("bBinary") + len(TRACEPARENT)
    assert to_wire(parsed)["b"] == {"DataType": "Binary", "BinaryValue": base64.b64encode(TRACEPARENT).decode()}


def test_dead_letter_attributes_read_as_strings() -> None:
    stored = attributes_from_fields(b'{"RULE_ARN":"arn:aws:events:us-east-1:1:rule/r","RETRY_ATTEMPTS":"0"}', None)
    assert stored == {
        "RULE_ARN": Attribute("String", "arn:aws:events:us-east-1:1:rule/r"),
        "RETRY_ATTEMPTS": Attribute("String", "0"),
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"a": {"DataType": "Text", "StringValue": "x"}}, "The type of message (user) attribute 'a' is invalid."),
        ({"a": {"DataType": "String", "StringValue": ""}}, "must contain a non-empty value of type 'String'"),
        ({"a": {"DataType": "Number", "StringValue": "abc"}}, "Can't cast the value of message (user) attribute 'a'"),
        ({"a": {"DataType": "Number", "StringValue": "1" * 39}}, "Can't cast the value"),
        ({"AWS.x": {"DataType": "String", "StringValue": "x"}}, "attribute name 'AWS.x' is invalid"),
        ({"a..b": {"DataType": "String", "StringValue": "x"}}, "attribute name 'a..b' is invalid"),
        ({f"a{i}": {"DataType": "String", "StringValue": "x"} for i in range(11)}, "Number of message attributes [11]"),
        ({"a": {"DataType": "Binary", "BinaryValue": "!!"}}, "is not valid base64"),
    ],
)
def test_invalid_attributes(raw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameterValue) as raised:
        parse_attributes(raw)
    assert message in raised.value.message


def test_select_by_name_prefix_and_all() -> None:
    stored = {n: Attribute("String", n) for n in ("General", "Hello", "Help.Me")}
    assert list(select(stored, ["All"])) == ["General", "Hello", "Help.Me"]
    assert list(select(stored, [".*"])) == ["General", "Hello", "Help.Me"]
    assert list(select(stored, ["Hel.*"])) == []
    assert list(select(stored, ["Help.*"])) == ["Help.Me"]
    assert list(select(stored, ["Hello", "Nope"])) == ["Hello"]
    assert select(stored, []) == {}
