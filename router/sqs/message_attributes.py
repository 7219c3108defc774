"""Message attributes (pure): SQS's validation, their size, their MD5 digests, and how they are stored.

`MD5OfMessageAttributes` is SQS's digest over the attributes sorted by name, each encoded as: name length (4 bytes,
big-endian) and UTF-8 name, data type length and type, one transport byte (1 for `String`/`Number` values, 2 for
`Binary`), value length and value (UTF-8 text, or the raw bytes). `MD5OfMessageSystemAttributes` is the same over
the system attributes (`AWSTraceHeader`). SDKs recompute these to check what they sent and received.

In the queue's stream (docs/queues.md) attributes stay language-neutral: `attributes` is a JSON object of name ->
string value (a `Binary` value base64-encoded), and `attribute_types` a JSON object of name -> data type for every
attribute whose type is not plain `String`. So the six attributes of a dead-letter message, written by delivery as
plain strings, read back as `String` message attributes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from router.sqs.errors import InvalidParameterValue

__all__ = [
    "MAX_ATTRIBUTES",
    "Attribute",
    "attributes_from_fields",
    "attributes_md5",
    "attributes_size",
    "attributes_to_fields",
    "parse_attributes",
    "select",
    "to_wire",
]

MAX_ATTRIBUTES = 10
_NAME = re.compile(r"[A-Za-z0-9_\-.]{1,256}")
_TYPE = re.compile(r"(String|Number|Binary)(\.[A-Za-z0-9_\-.]{1,256})?")


@dataclass(frozen=True, slots=True)
class Attribute:
    data_type: str
    value: str | bytes
    """`str` for String and Number types, `bytes` for Binary."""

    @property
    def binary(self) -> bool:
        return self.data_type.startswith("Binary")


def _check_name(name: str, kind: str) -> None:
    if (
        not _NAME.fullmatch(name)
        or name.startswith((".", "AWS.", "Amazon.", "aws.", "amazon."))
        or name.endswith(".")
        or ".." in name
    ):
        raise InvalidParameterValue(
            f"Message ({kind}) attribute name '{name}' is invalid. Attribute name can contain A-Z, a-z, 0-9, "
            "underscore (_), hyphen (-), and period (.) characters. Attribute name must not start or end with a "
            "period, contain consecutive periods, or start with AWS. or Amazon., and must be at most 256 characters."
        )


def _number(name: str, text: str) -> None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    digits = len(value.as_tuple().digits) if value is not None and value.is_finite() else 0
    if value is None or not value.is_finite() or digits > 38 or abs(value) >= Decimal("1e126"):
        raise InvalidParameterValue(f"Can't cast the value of message (user) attribute '{name}' to a number.")


def parse_attributes(raw: Any, kind: str = "user") -> dict[str, Attribute]:
    """Validate a request's `MessageAttributes` (or `MessageSystemAttributes`, kind `system`) map."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParameterValue("MessageAttributes must be a map.")
    if len(raw) > MAX_ATTRIBUTES:
        raise InvalidParameterValue(
            f"Number of message attributes [{len(raw)}] exceeds the allowed maximum [{MAX_ATTRIBUTES}]."
        )
    out: dict[str, Attribute] = {}
    for name, spec in raw.items():
        _check_name(str(name), kind)
        if not isinstance(spec, dict):
            raise InvalidParameterValue(f"The message ({kind}) attribute '{name}' must be a structure.")
        data_type = spec.get("DataType")
        if not isinstance(data_type, str) or not data_type:
            raise InvalidParameterValue(f"The message ({kind}) attribute '{name}' must contain a non-empty data type.")
        if not _TYPE.fullmatch(data_type):
            raise InvalidParameterValue(
                f"The type of message ({kind}) attribute '{name}' is invalid. You must use only the following "
                "supported type prefixes: Binary, Number, String."
            )
        if spec.get("StringListValues") or spec.get("BinaryListValues"):
            raise InvalidParameterValue(f"Message ({kind}) attribute list values in '{name}' are not supported.")
        if data_type.startswith("Binary"):
            encoded = spec.get("BinaryValue")
            value: str | bytes
            try:
                value = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
            except (binascii.Error, ValueError):
                raise InvalidParameterValue(f"The message ({kind}) attribute '{name}' is not valid base64.") from None
            if not value:
                raise InvalidParameterValue(
                    f"Message ({kind}) attribute '{name}' must contain a non-empty value of type 'Binary'."
                )
        else:
            text = spec.get("StringValue")
            if not isinstance(text, str) or not text:
                base = "Number" if data_type.startswith("Number") else "String"
                raise InvalidParameterValue(
                    f"Message ({kind}) attribute '{name}' must contain a non-empty value of type '{base}'."
                )
            if data_type.startswith("Number"):
                _number(str(name), text)
            value = text
        out[str(name)] = Attribute(data_type, value)
    return out


def attributes_size(attributes: Mapping[str, Attribute]) -> int:
    """Bytes the attributes add to a message's size (names, types and values), as SQS counts them."""
    total = 0
    for name, attribute in attributes.items():
        value = attribute.value if isinstance(attribute.value, bytes) else attribute.value.encode()
        total += len(name.encode()) + len(attribute.data_type.encode()) + len(value)
    return total


def attributes_md5(attributes: Mapping[str, Attribute]) -> str | None:
    """SQS's MD5 of the attributes; None for none."""
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        attribute = attributes[name]
        value = attribute.value if isinstance(attribute.value, bytes) else attribute.value.encode()
        for part in (name.encode(), attribute.data_type.encode()):
            digest.update(len(part).to_bytes(4, "big") + part)
        digest.update(b"\x02" if attribute.binary else b"\x01")
        digest.update(len(value).to_bytes(4, "big") + value)
    return digest.hexdigest()


def attributes_to_fields(attributes: Mapping[str, Attribute]) -> dict[str, bytes]:
    """The stream fields that store the attributes (none when there are none)."""
    if not attributes:
        return {}
    values = {
        name: base64.b64encode(a.value).decode() if isinstance(a.value, bytes) else a.value
        for name, a in attributes.items()
    }
    fields = {"attributes": orjson.dumps(values)}
    types = {name: a.data_type for name, a in attributes.items() if a.data_type != "String"}
    if types:
        fields["attribute_types"] = orjson.dumps(types)
    return fields


def attributes_from_fields(raw_values: bytes | None, raw_types: bytes | None) -> dict[str, Attribute]:
    """The attributes stored in a stream entry (unreadable fields read as no attributes)."""
    if not raw_values:
        return {}
    try:
        values = orjson.loads(raw_values)
        types = orjson.loads(raw_types) if raw_types else {}
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(values, dict) or not isinstance(types, dict):
        return {}
    out: dict[str, Attribute] = {}
    for name, text in values.items():
        data_type = str(types.get(name, "String"))
        value: str | bytes = str(text)
        if data_type.startswith("Binary"):
            try:
                value = base64.b64decode(str(text))
            except (binascii.Error, ValueError):
                continue
        out[str(name)] = Attribute(data_type, value)
    return out


def select(attributes: Mapping[str, Attribute], names: list[str]) -> dict[str, Attribute]:
    """The attributes a ReceiveMessage `MessageAttributeNames` asks for: `All`, `.*`, `prefix.*` or exact names."""
    if not names or not attributes:
        return {}
    if "All" in names or ".*" in names:
        return dict(attributes)
    prefixes = tuple(n[:-1] for n in names if n.endswith(".*"))
    exact = set(names)
    return {n: a for n, a in attributes.items() if n in exact or (prefixes and n.startswith(prefixes))}


def to_wire(attributes: Mapping[str, Attribute]) -> dict[str, dict[str, str]]:
    """The JSON protocol's `MessageAttributes` map (binary values base64, as botocore encodes blobs)."""
    out: dict[str, dict[str, str]] = {}
    for name, attribute in attributes.items():
        if isinstance(attribute.value, bytes):
            out[name] = {"DataType": attribute.data_type, "BinaryValue": base64.b64encode(attribute.value).decode()}
        else:
            out[name] = {"DataType": attribute.data_type, "StringValue": attribute.value}
    return out
