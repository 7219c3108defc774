"""The SQS operations: request checks as SQS makes them, and the answers in the model's shapes.

Parameters are checked here with SQS's own errors (botocore checks types on the client, other clients may not):
a missing required parameter is `MissingParameter`, a value out of range `InvalidParameterValue` worded as SQS
words it (`Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if
provided.`). Batch calls check the batch as a whole first (empty, more than 10 entries, ids not distinct or not
valid, total size), then report each entry in `Successful` or `Failed`, as SQS does.

Every operation acts in the caller's (account, region) namespace (`Call.namespace`, from its credential scope:
router.namespace): a queue name or QueueUrl names that namespace's queue (router.sqs.queues), whose URL and ARN carry
its account and region; a QueueUrl or QueueOwnerAWSAccountId of another account is `NonExistentQueue` (there are no
queue policies to grant it).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from router.sqs import handles
from router.sqs.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidAttributeName,
    InvalidBatchEntryId,
    InvalidMessageContents,
    InvalidParameterValue,
    MissingParameter,
    QueueDoesNotExist,
    SqsError,
    TooManyEntriesInBatchRequest,
)
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
from router.sqs.messages import MessageStore, Outgoing, Received, sequence_number
from router.sqs.protocol import Call, SqsHandler
from router.sqs.queue_attributes import COMPUTED, MAX_MESSAGE_BYTES, SETTABLE, QueueConfig
from router.sqs.queues import QueueStore, queue_name_from_url

__all__ = ["SqsApi"]

MAX_BATCH = 10
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_ID = re.compile(r"[!-~]{1,128}")
_INVALID_BODY = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SYSTEM_NAMES = (
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _value(name: str, value: Any, reason: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Value {value} for parameter {name} is invalid. Reason: {reason}")


def _string(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise MissingParameter(name)
        return None
    if not isinstance(value, str):
        raise _value(name, value, "Must be a string.")
    return value


def _integer(body: Mapping[str, Any], name: str, low: int, high: int, reason: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _value(name, value, reason)
    return value


def _names(body: Mapping[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _value(name, value, "Must be a list of strings.")
    return value


def _entries(body: Mapping[str, Any], shape: str) -> list[dict[str, Any]]:
    entries = body.get("Entries")
    if entries is None or (isinstance(entries, list) and not entries):
        raise EmptyBatchRequest(shape)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _value("Entries", entries, "Must be a list of structures.")
    if len(entries) > MAX_BATCH:
        raise TooManyEntriesInBatchRequest(len(entries))
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id")
        if not isinstance(entry_id, str) or not _BATCH_ID.fullmatch(entry_id):
            raise InvalidBatchEntryId()
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(entry_id)
        seen.add(entry_id)
    return entries


def _failed(entry_id: str, err: SqsError) -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": err.sender_fault, "Code": err.query_code, "Message": err.message}


class SqsApi:
    """The operations, bound to one process's queue and message stores."""

    def __init__(self, queues: QueueStore, messages: MessageStore) -> None:
        self.queues = queues
        self.messages = messages

    def handlers(self) -> dict[str, SqsHandler]:
        names = [
            "CreateQueue",
            "GetQueueUrl",
            "ListQueues",
            "GetQueueAttributes",
            "SetQueueAttributes",
            "DeleteQueue",
            "PurgeQueue",
            "SendMessage",
            "SendMessageBatch",
            "ReceiveMessage",
            "DeleteMessage",
            "DeleteMessageBatch",
            "ChangeMessageVisibility",
            "ChangeMessageVisibilityBatch",
            "TagQueue",
            "UntagQueue",
            "ListQueueTags",
            "ListDeadLetterSourceQueues",
        ]
        return {name: getattr(self, _snake(name)) for name in names}

    async def _queue(self, call: Call, body: Mapping[str, Any]) -> QueueConfig:
        """The queue the request's QueueUrl names, in the caller's namespace."""
        url = _string(body, "QueueUrl", required=True) or ""
        name = queue_name_from_url(url, call.namespace.account_id)
        return await self.queues.config(self.queues.queue(call.namespace, name))

    # queues -------------------------------------------------------------------------------------------------
    async def create_queue(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        name = _string(body, "QueueName", required=True) or ""
        tags = body.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise _value("tags", tags, "Must be a map of strings.")
        queue = await self.queues.create(call.namespace, name, body.get("Attributes"), tags)
        return {"QueueUrl": self.queues.url(call.base_url, queue)}

    async def get_queue_url(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        name = _string(body, "QueueName", required=True) or ""
        owner = _string(body, "QueueOwnerAWSAccountId")
        if owner is not None and owner != call.namespace.account_id:
            raise QueueDoesNotExist()
        queue = self.queues.queue(call.namespace, name)
        await self.queues.config(queue)
        await self.queues.register(queue)
        return {"QueueUrl": self.queues.url(call.base_url, queue)}

    async def list_queues(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        prefix = _string(body, "QueueNamePrefix") or ""
        limit = _integer(body, "MaxResults", 1, 1000, "Value must be between 1 and 1000.")
        token = _string(body, "NextToken")
        after = None
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (ValueError, UnicodeDecodeError):
                raise _value("NextToken", token, "Invalid NextToken value.") from None
        names, last = await self.queues.names(call.namespace, prefix, after, limit or 1000)
        result: dict[str, Any] = {}
        if names:
            result["QueueUrls"] = [self.queues.url(call.base_url, n) for n in names]
        if last is not None and limit is not None:
            result["NextToken"] = base64.urlsafe_b64encode(last.encode()).decode()
        return result

    async def get_queue_attributes(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        config = await self._queue(call, body)
        config = await self.queues.config(config.name, fresh=True)
        requested = _names(body, "AttributeNames")
        for name in requested:
            if name != "All" and name not in SETTABLE and name not in COMPUTED:
                raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if not requested:
            return {}
        everything = "All" in requested
        wanted = set(requested)
        values: dict[str, str] = {}
        if everything or wanted & {
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        }:
            counts = await self.messages.counts(config)
            values["ApproximateNumberOfMessages"] = str(counts.visible)
            values["ApproximateNumberOfMessagesNotVisible"] = str(counts.not_visible)
            values["ApproximateNumberOfMessagesDelayed"] = str(counts.delayed)
        now_s = str(int(time.time()))
        values["QueueArn"] = self.queues.arn(config.name)
        values["CreatedTimestamp"] = config.stored.get("CreatedTimestamp", now_s)
        values["LastModifiedTimestamp"] = config.stored.get("LastModifiedTimestamp", values["CreatedTimestamp"])
        values.update(config.all_settable())
        if not everything:
            values = {k: v for k, v in values.items() if k in wanted}
        return {"Attributes": values} if values else {}

    async def set_queue_attributes(self, call: Call, body: dict[str, Any]) -> None:
        config = await self._queue(call, body)
        if body.get("Attributes") is None:
            raise MissingParameter("Attributes")
        await self.queues.set_attributes(config.name, body.get("Attributes"))

    async def delete_queue(self, call: Call, body: dict[str, Any]) -> None:
        config = await self._queue(call, body)
        await self.queues.delete(config.name)

    async def purge_queue(self, call: Call, body: dict[str, Any]) -> None:
        config = await self._queue(call, body)
        await self.messages.purge(config)

    async def tag_queue(self, call: Call, body: dict[str, Any]) -> None:
        config = await self._queue(call, body)
        tags = body.get("Tags")
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise MissingParameter("Tags")
        await self.queues.tag(config.name, {str(k): v for k, v in tags.items()})

    async def untag_queue(self, call: Call, body: dict[str, Any]) -> None:
        config = await self._queue(call, body)
        await self.queues.untag(config.name, _names(body, "TagKeys"))

    async def list_queue_tags(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        config = await self._queue(call, body)
        tags = await self.queues.tags(config.name)
        return {"Tags": tags} if tags else {}

    async def list_dead_letter_source_queues(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        config = await self._queue(call, body)
        limit = _integer(body, "MaxResults", 1, 1000, "Value must be between 1 and 1000.") or 1000
        sources: list[str] = []
        names, _ = await self.queues.names(call.namespace, "", None, 100_000)
        for name in names:
            try:
                other = await self.queues.config(name)
            except QueueDoesNotExist:
                continue
            dead = self.queues.dead_letter_queue(other)
            if dead is not None and dead[0] == config.name:
                sources.append(self.queues.url(call.base_url, name))
        return {"queueUrls": sources[:limit]}

    # messages -----------------------------------------------------------------------------------------------
    def _outgoing(self, config: QueueConfig, entry: Mapping[str, Any]) -> tuple[Outgoing, dict[str, Any]]:
        """A message to send and the digests of its answer; raises the error SQS gives for it."""
        body = _string(entry, "MessageBody", required=True) or ""
        if not body:
            raise MissingParameter("MessageBody")
        if _INVALID_BODY.search(body):
            raise InvalidMessageContents(
                "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
                "#xE000 to #xFFFD | #x10000 to #x10FFFF"
            )
        attributes = parse_attributes(entry.get("MessageAttributes"))
        system = parse_attributes(entry.get("MessageSystemAttributes"), "system")
        for name in system:
            if name != "AWSTraceHeader":
                raise InvalidParameterValue(f"Message system attribute name '{name}' is invalid.")
        size = len(body.encode()) + attributes_size(attributes)
        limit = config.max_message_bytes
        if size > limit:
            raise InvalidParameterValue(
                f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
            )
        delay = _integer(entry, "DelaySeconds", 0, 900, "DelaySeconds must be >= 0 and <= 900.")
        group = _string(entry, "MessageGroupId")
        dedup = _string(entry, "MessageDeduplicationId")
        for name, value in (("MessageGroupId", group), ("MessageDeduplicationId", dedup)):
            if value is not None and not _FIFO_ID.fullmatch(value):
                raise _value(
                    name,
                    value,
                    f"{name} can only include alphanumeric and punctuation characters. 1 to 128 in length.",
                )
        if config.fifo:
            if delay is not None and delay != 0:
                raise _value(
                    "DelaySeconds", delay, "The request include parameter that is not valid for this queue type."
                )
            if group is None:
                raise InvalidParameterValue("The request must contain the parameter MessageGroupId.")
            if dedup is None:
                if not config.content_dedup:
                    raise InvalidParameterValue(
                        "The queue should either have ContentBasedDeduplication enabled or "
                        "MessageDeduplicationId provided explicitly"
                    )
                dedup = hashlib.sha256(body.encode()).hexdigest()
        elif dedup is not None:
            raise _value(
                "MessageDeduplicationId",
                dedup,
                "The request includes a parameter that is not valid for this queue type.",
            )
        fields: dict[str, Any] = {"body": body, **attributes_to_fields(attributes)}
        if group is not None:
            fields["group_id"] = group
        if config.fifo and dedup is not None:
            fields["dedup_id"] = dedup
        if delay is not None:
            fields["delay_s"] = delay
        trace = system.get("AWSTraceHeader")
        if trace is not None:
            fields["trace_header"] = trace.value if isinstance(trace.value, str) else trace.value.decode()
        digests: dict[str, Any] = {"MD5OfMessageBody": _md5(body)}
        md5 = attributes_md5(attributes)
        if md5 is not None:
            digests["MD5OfMessageAttributes"] = md5
        system_md5 = attributes_md5(system)
        if system_md5 is not None:
            digests["MD5OfMessageSystemAttributes"] = system_md5
        outgoing = Outgoing(fields, group or "", (dedup or "") if config.fifo else "")
        return outgoing, digests

    async def send_message(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        config = await self._queue(call, body)
        outgoing, answer = self._outgoing(config, body)
        sent = (await self.messages.send(config, [outgoing]))[0]
        answer["MessageId"] = sent.message_id
        if config.fifo:
            answer["SequenceNumber"] = sequence_number(sent.entry_id)
        return answer

    async def send_message_batch(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        config = await self._queue(call, body)
        entries = _entries(body, "SendMessageBatchRequestEntry")
        total = 0
        for entry in entries:
            text = entry.get("MessageBody")
            total += len(text.encode()) if isinstance(text, str) else 0
            attributes = entry.get("MessageAttributes")
            if isinstance(attributes, dict):
                total += len(orjson.dumps(attributes))
        if total > MAX_MESSAGE_BYTES:
            raise BatchRequestTooLong(MAX_MESSAGE_BYTES, total)
        ready: list[tuple[str, Outgoing, dict[str, Any]]] = []
        failed: list[dict[str, Any]] = []
        for entry in entries:
            try:
                outgoing, answer = self._outgoing(config, entry)
            except SqsError as err:
                failed.append(_failed(entry["Id"], err))
                continue
            ready.append((entry["Id"], outgoing, answer))
        successful: list[dict[str, Any]] = []
        if ready:
            sent = await self.messages.send(config, [outgoing for _, outgoing, _ in ready])
            for (entry_id, _, answer), result in zip(ready, sent, strict=True):
                item = {"Id": entry_id, "MessageId": result.message_id, **answer}
                if config.fifo:
                    item["SequenceNumber"] = sequence_number(result.entry_id)
                successful.append(item)
        return {"Successful": successful, "Failed": failed}

    async def receive_message(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        config = await self._queue(call, body)
        count = _integer(body, "MaxNumberOfMessages", 1, 10, "Must be between 1 and 10, if provided.")
        wait = _integer(body, "WaitTimeSeconds", 0, 20, "Must be >= 0 and <= 20, if provided.")
        visibility = _integer(body, "VisibilityTimeout", 0, 43_200, "Must be >= 0 and <= 43200, if provided.")
        system = set(_names(body, "AttributeNames")) | set(_names(body, "MessageSystemAttributeNames"))
        if "All" in system:
            system = set(_SYSTEM_NAMES)
        attribute_names = _names(body, "MessageAttributeNames")
        received = await self.messages.receive(
            config,
            count or 1,
            config.visibility_s if visibility is None else visibility,
            config.wait_s if wait is None else wait,
        )
        messages = [self._message(call, config, m, system, attribute_names) for m in received]
        return {"Messages": messages} if messages else {}

    def _message(
        self, call: Call, config: QueueConfig, received: Received, system: set[str], attribute_names: list[str]
    ) -> dict[str, Any]:
        fields = received.fields
        text = fields.get(b"body", b"").decode("utf-8", "replace")
        message: dict[str, Any] = {
            "MessageId": fields.get(b"message_id", b"").decode(),
            "ReceiptHandle": handles.encode(config.name, received.entry_id, received.token),
            "MD5OfBody": _md5(text),
            "Body": text,
        }
        available: dict[str, str] = {
            "SenderId": call.namespace.account_id,
            "SentTimestamp": fields.get(b"sent_ms", b"0").decode(),
            "ApproximateReceiveCount": str(received.receive_count),
            "ApproximateFirstReceiveTimestamp": str(received.first_receive_ms),
        }
        for name, key in (
            ("MessageGroupId", b"group_id"),
            ("AWSTraceHeader", b"trace_header"),
            ("DeadLetterQueueSourceArn", b"dlq_source"),
        ):
            if key in fields:
                available[name] = fields[key].decode()
        if config.fifo:
            available["SequenceNumber"] = sequence_number(received.entry_id)
            dedup = fields.get(b"dedup_id") or fields.get(b"delivery_id")
            if dedup is not None:
                available["MessageDeduplicationId"] = dedup.decode()
        chosen = {k: v for k, v in available.items() if k in system}
        if chosen:
            message["Attributes"] = chosen
        attributes: dict[str, Attribute] = select(
            attributes_from_fields(fields.get(b"attributes"), fields.get(b"attribute_types")), attribute_names
        )
        if attributes:
            message["MD5OfMessageAttributes"] = attributes_md5(attributes)
            message["MessageAttributes"] = to_wire(attributes)
        return message

    def _handle(self, config: QueueConfig, handle: Any) -> tuple[str, str]:
        if not isinstance(handle, str) or not handle:
            raise MissingParameter("ReceiptHandle")
        return handles.decode(handle, config.name)

    async def delete_message(self, call: Call, body: dict[str, Any]) -> None:
        config = await self._queue(call, body)
        handle = body.get("ReceiptHandle")
        code = (await self.messages.delete(config, [self._handle(config, handle)]))[0]
        if code == 4:
            raise _value("ReceiptHandle", handle, "The receipt handle has expired.")

    async def delete_message_batch(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        config = await self._queue(call, body)
        entries = _entries(body, "DeleteMessageBatchRequestEntry")
        return await self._batch(
            config,
            entries,
            lambda items: self.messages.delete(config, [(e, t) for e, t, _ in items]),
            lambda handle, code: (
                _value("ReceiptHandle", handle, "The receipt handle has expired.") if code == 4 else None
            ),
        )

    async def change_message_visibility(self, call: Call, body: dict[str, Any]) -> None:
        config = await self._queue(call, body)
        handle = body.get("ReceiptHandle")
        seconds = self._visibility(body)
        entry_id, token = self._handle(config, handle)
        if (await self.messages.change_visibility(config, [(entry_id, token, seconds)]))[0] == 0:
            raise _not_in_flight(handle)

    async def change_message_visibility_batch(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        config = await self._queue(call, body)
        entries = _entries(body, "ChangeMessageVisibilityBatchRequestEntry")
        return await self._batch(
            config,
            entries,
            lambda items: self.messages.change_visibility(config, items),
            lambda handle, code: _not_in_flight(handle) if code == 0 else None,
            visibility=True,
        )

    def _visibility(self, entry: Mapping[str, Any]) -> int:
        seconds = entry.get("VisibilityTimeout")
        if seconds is None:
            raise MissingParameter("VisibilityTimeout")
        value = _integer(entry, "VisibilityTimeout", 0, 43_200, "Must be between 0 and 43200, if provided.")
        return int(value if value is not None else seconds)

    async def _batch(
        self,
        config: QueueConfig,
        entries: list[dict[str, Any]],
        run: Callable[[list[tuple[str, str, int]]], Any],
        error_of: Callable[[Any, int], SqsError | None],
        *,
        visibility: bool = False,
    ) -> dict[str, Any]:
        failed: list[dict[str, Any]] = []
        items: list[tuple[str, tuple[str, str, int], Any]] = []
        for entry in entries:
            handle = entry.get("ReceiptHandle")
            try:
                entry_id, token = self._handle(config, handle)
                seconds = self._visibility(entry) if visibility else 0
            except SqsError as err:
                failed.append(_failed(entry["Id"], err))
                continue
            items.append((entry["Id"], (entry_id, token, seconds), handle))
        successful: list[dict[str, str]] = []
        if items:
            codes = await run([item for _, item, _ in items])
            for (entry_id, _, handle), code in zip(items, codes, strict=True):
                error = error_of(handle, code)
                if error is None:
                    successful.append({"Id": entry_id})
                else:
                    failed.append(_failed(entry_id, error))
        return {"Successful": successful, "Failed": failed}


def _not_in_flight(handle: Any) -> InvalidParameterValue:
    return _value("ReceiptHandle", handle, "Message does not exist or is not available for visibility timeout change.")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
