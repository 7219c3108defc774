"""Queue attributes (pure): names, defaults, SQS's checks on CreateQueue and SetQueueAttributes, and `QueueConfig`.

Stored attributes are exactly what SQS would return for them (strings, in the queue's `attributes` hash); a queue
created by a delivery has none stored and reads as the defaults. `QueueConfig` is what the message operations need,
parsed once per read: visibility, delay, retention, size limit, redrive and the FIFO settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from router.sqs.errors import InvalidAttributeName, InvalidAttributeValue, InvalidParameterValue

__all__ = [
    "COMPUTED",
    "DEFAULTS",
    "FIFO_DEFAULTS",
    "MAX_MESSAGE_BYTES",
    "SETTABLE",
    "QueueConfig",
    "check_attributes",
    "is_fifo_name",
    "queue_name_ok",
]

MAX_MESSAGE_BYTES = 1_048_576
"""SQS's message size limit (1 MiB since August 2025), and the default MaximumMessageSize."""

DEFAULTS: dict[str, str] = {
    "VisibilityTimeout": "30",
    "MaximumMessageSize": str(MAX_MESSAGE_BYTES),
    "MessageRetentionPeriod": "345600",
    "DelaySeconds": "0",
    "ReceiveMessageWaitTimeSeconds": "0",
    "SqsManagedSseEnabled": "true",
}
"""What GetQueueAttributes reports for a queue that never set them (FIFO queues add FIFO_DEFAULTS)."""

FIFO_DEFAULTS: dict[str, str] = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}

COMPUTED = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)
"""Read-only attributes, computed on each GetQueueAttributes."""

_RANGES: dict[str, tuple[int, int]] = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, MAX_MESSAGE_BYTES),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
_BOOLEANS = ("SqsManagedSseEnabled", "FifoQueue", "ContentBasedDeduplication")
_CHOICES = {"DeduplicationScope": ("messageGroup", "queue"), "FifoThroughputLimit": ("perQueue", "perMessageGroupId")}
_FREE = ("Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId")
_FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
SETTABLE = frozenset([*_RANGES, *_BOOLEANS, *_CHOICES, *_FREE])

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")


def is_fifo_name(name: str) -> bool:
    return name.endswith(".fifo")


def queue_name_ok(name: str) -> bool:
    return bool(_FIFO_NAME.fullmatch(name) or _NAME.fullmatch(name))


def _redrive_target(value: str) -> tuple[str, int]:
    """(dead-letter queue ARN, maxReceiveCount) of a RedrivePolicy, or InvalidParameterValue as SQS words it."""

    def invalid(reason: str) -> InvalidParameterValue:
        return InvalidParameterValue(f"Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}")

    try:
        policy = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise invalid("Redrive policy is not a valid JSON map.") from None
    if not isinstance(policy, dict):
        raise invalid("Redrive policy is not a valid JSON map.")
    arn = policy.get("deadLetterTargetArn")
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not queue_name_ok(parts[5]):
        raise invalid("Invalid value for deadLetterTargetArn.")
    count = policy.get("maxReceiveCount")
    try:
        max_receive = int(str(count))
    except ValueError:
        raise invalid("Invalid value for maxReceiveCount: must be an integer from 1 to 1000.") from None
    if not 1 <= max_receive <= 1000:
        raise invalid("Invalid value for maxReceiveCount: must be an integer from 1 to 1000.")
    return str(arn), max_receive


def check_attributes(raw: Any, *, fifo: bool, creating: bool) -> dict[str, str]:
    """The attributes of a CreateQueue / SetQueueAttributes request, checked as SQS checks them."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParameterValue("Attributes must be a map.")
    out: dict[str, str] = {}
    for name, value in raw.items():
        text = value if isinstance(value, str) else str(value)
        if name not in SETTABLE:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if name == "FifoQueue" and not creating:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if name in _FIFO_ONLY and not fifo:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if name in _RANGES:
            low, high = _RANGES[name]
            if not re.fullmatch(r"-?\d{1,12}", text) or not low <= int(text) <= high:
                raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
            text = str(int(text))
        elif name in _BOOLEANS:
            if text.lower() not in ("true", "false"):
                raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
            text = text.lower()
        elif name in _CHOICES and text not in _CHOICES[name]:
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
        elif name == "RedrivePolicy" and text:
            _redrive_target(text)
        elif name in ("Policy", "RedriveAllowPolicy") and text:
            try:
                orjson.loads(text)
            except orjson.JSONDecodeError:
                raise InvalidAttributeValue(f"Invalid value for the parameter {name}.") from None
        out[name] = text
    if out.get("FifoQueue") == "false" and fifo:
        raise InvalidParameterValue(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
            "must end with .fifo suffix and be 1 to 80 in length."
        )
    return out


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A queue's stored attributes and what the message operations read from them."""

    name: str
    """The queue's key-layout name (router.sqs.queues): its name, prefixed `ACCOUNT@REGION@` outside the home
    namespace."""
    stored: Mapping[str, str]

    def get(self, name: str) -> str:
        if name in self.stored:
            return self.stored[name]
        if self.fifo and name in FIFO_DEFAULTS:
            return FIFO_DEFAULTS[name]
        return DEFAULTS.get(name, "")

    @property
    def fifo(self) -> bool:
        return is_fifo_name(self.name)

    def _int(self, name: str) -> int:
        try:
            return int(self.get(name))
        except ValueError:
            return int(DEFAULTS[name])

    @property
    def visibility_s(self) -> int:
        return self._int("VisibilityTimeout")

    @property
    def delay_s(self) -> int:
        return self._int("DelaySeconds")

    @property
    def retention_s(self) -> int:
        return self._int("MessageRetentionPeriod")

    @property
    def max_message_bytes(self) -> int:
        return self._int("MaximumMessageSize")

    @property
    def wait_s(self) -> int:
        return self._int("ReceiveMessageWaitTimeSeconds")

    @property
    def content_dedup(self) -> bool:
        return self.get("ContentBasedDeduplication") == "true"

    @property
    def dedup_by_group(self) -> bool:
        return self.get("DeduplicationScope") == "messageGroup"

    @property
    def redrive(self) -> tuple[str, int] | None:
        """(dead-letter queue ARN, maxReceiveCount), or None without a RedrivePolicy (router.sqs.queues
        `dead_letter_queue` finds the queue it names)."""
        text = self.stored.get("RedrivePolicy")
        if not text:
            return None
        try:
            return _redrive_target(text)
        except InvalidParameterValue:
            return None

    def all_settable(self) -> dict[str, str]:
        """Every non-computed attribute GetQueueAttributes(All) reports."""
        out = dict(DEFAULTS)
        if self.fifo:
            out.update(FIFO_DEFAULTS)
        out.update({k: v for k, v in self.stored.items() if k in SETTABLE and v != ""})
        return out
