"""SQS's wire errors, part of the one hierarchy of router.errors.

SQS moved from the query protocol to AWS JSON 1.0 while keeping its old error codes: a JSON error carries the
Smithy shape in `__type` (`com.amazonaws.sqs#QueueDoesNotExist`) and the query code in the `x-amzn-query-error`
header (`AWS.SimpleQueueService.NonExistentQueue;Sender`). botocore reports the header's code as `Error.Code` and
maps the shape name to `client.exceptions.QueueDoesNotExist`, so both must be exact. Codes and statuses are those
of AWS's own SQS model (its `awsQueryError` traits); `InvalidParameterValue` and `MissingParameter` are the
unmodeled errors SQS answers for bad input.
"""

from __future__ import annotations

from router.errors import ServiceError

__all__ = [
    "BatchEntryIdsNotDistinct",
    "BatchRequestTooLong",
    "EmptyBatchRequest",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "InvalidBatchEntryId",
    "InvalidMessageContents",
    "InvalidParameterValue",
    "MissingParameter",
    "OverLimit",
    "PurgeQueueInProgress",
    "QueueDoesNotExist",
    "QueueNameExists",
    "ReceiptHandleIsInvalid",
    "SqsError",
    "TooManyEntriesInBatchRequest",
    "UnsupportedOperation",
]


class SqsError(ServiceError):
    """An SQS error: `code` is the shape name (`__type`), `query_code` what SDKs show as the error code."""

    code = "InternalError"
    query_code = "InternalError"
    status = 400
    sender_fault = True

    @property
    def wire_type(self) -> str:
        return f"com.amazonaws.sqs#{self.code}"


class QueueDoesNotExist(SqsError):
    code = "QueueDoesNotExist"
    query_code = "AWS.SimpleQueueService.NonExistentQueue"

    def __init__(self, message: str = "The specified queue does not exist.") -> None:
        super().__init__(message)


class QueueNameExists(SqsError):
    code = "QueueNameExists"
    query_code = "QueueAlreadyExists"


class ReceiptHandleIsInvalid(SqsError):
    code = "ReceiptHandleIsInvalid"
    query_code = "ReceiptHandleIsInvalid"
    status = 404

    def __init__(self, handle: str) -> None:
        super().__init__(f'The input receipt handle "{handle}" is not a valid receipt handle.')


class TooManyEntriesInBatchRequest(SqsError):
    code = "TooManyEntriesInBatchRequest"
    query_code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"

    def __init__(self, count: int) -> None:
        super().__init__(f"Maximum number of entries per request are 10. You have sent {count}.")


class EmptyBatchRequest(SqsError):
    code = "EmptyBatchRequest"
    query_code = "AWS.SimpleQueueService.EmptyBatchRequest"

    def __init__(self, entry_shape: str) -> None:
        super().__init__(f"There should be at least one {entry_shape} in the request.")


class BatchEntryIdsNotDistinct(SqsError):
    code = "BatchEntryIdsNotDistinct"
    query_code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"

    def __init__(self, entry_id: str) -> None:
        super().__init__(f"Id {entry_id} repeated.")


class InvalidBatchEntryId(SqsError):
    code = "InvalidBatchEntryId"
    query_code = "AWS.SimpleQueueService.InvalidBatchEntryId"

    def __init__(self) -> None:
        super().__init__(
            "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
            "It can be at most 80 letters long."
        )


class BatchRequestTooLong(SqsError):
    code = "BatchRequestTooLong"
    query_code = "AWS.SimpleQueueService.BatchRequestTooLong"

    def __init__(self, limit: int, size: int) -> None:
        super().__init__(f"Batch requests cannot be longer than {limit} bytes. You have sent {size} bytes.")


class PurgeQueueInProgress(SqsError):
    code = "PurgeQueueInProgress"
    query_code = "AWS.SimpleQueueService.PurgeQueueInProgress"
    status = 403

    def __init__(self, name: str) -> None:
        super().__init__(f"Only one PurgeQueue operation on {name} is allowed every 60 seconds.")


class UnsupportedOperation(SqsError):
    code = "UnsupportedOperation"
    query_code = "AWS.SimpleQueueService.UnsupportedOperation"


class InvalidAttributeName(SqsError):
    code = "InvalidAttributeName"
    query_code = "InvalidAttributeName"


class InvalidAttributeValue(SqsError):
    code = "InvalidAttributeValue"
    query_code = "InvalidAttributeValue"


class InvalidMessageContents(SqsError):
    code = "InvalidMessageContents"
    query_code = "InvalidMessageContents"


class OverLimit(SqsError):
    code = "OverLimit"
    query_code = "OverLimit"
    status = 403


class InvalidParameterValue(SqsError):
    """Unmodeled: a parameter's value is out of range or of the wrong form."""

    code = "InvalidParameterValueException"
    query_code = "InvalidParameterValue"


class MissingParameter(SqsError):
    """Unmodeled: a required parameter is absent."""

    code = "MissingRequiredParameterException"
    query_code = "MissingParameter"

    def __init__(self, name: str) -> None:
        super().__init__(f"The request must contain the parameter {name}.")
