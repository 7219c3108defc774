"""One error hierarchy that mirrors EventBridge's wire error codes.

Every error a client can see is a `ServiceError` subclass named exactly like the `__type` AWS sends, so the wire
layer only has to write `{"__type": err.code, "message": err.message}` with `err.status`. Errors from Redis, the
pattern package or jsonschema are translated at the boundary with `raise ... from`.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error the API answers with. `code` is the wire `__type`; `status` the HTTP status."""

    code = "InternalException"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class AccessDeniedException(ServiceError):
    code = "AccessDeniedException"


class ConcurrentModificationException(ServiceError):
    code = "ConcurrentModificationException"


class IllegalStatusException(ServiceError):
    code = "IllegalStatusException"


class InternalException(ServiceError):
    code = "InternalException"
    status = 500


class InvalidEventPatternException(ServiceError):
    code = "InvalidEventPatternException"


class InvalidStateException(ServiceError):
    code = "InvalidStateException"


class LimitExceededException(ServiceError):
    code = "LimitExceededException"


class ManagedRuleException(ServiceError):
    code = "ManagedRuleException"


class OperationDisabledException(ServiceError):
    code = "OperationDisabledException"


class PolicyLengthExceededException(ServiceError):
    code = "PolicyLengthExceededException"


class ResourceAlreadyExistsException(ServiceError):
    code = "ResourceAlreadyExistsException"


class ResourceNotFoundException(ServiceError):
    code = "ResourceNotFoundException"


class ThrottlingException(ServiceError):
    code = "ThrottlingException"


class ValidationException(ServiceError):
    """Unmodeled but real: what AWS answers for constraint and semantic violations."""

    code = "ValidationException"


class SerializationException(ServiceError):
    """Unmodeled but real: a body that is not JSON, or a member of the wrong JSON type."""

    code = "SerializationException"


class UnknownOperationException(ServiceError):
    """The X-Amz-Target names no operation of the events service."""

    code = "UnknownOperationException"


class NotSupportedException(ServiceError):
    """An operation the EventBridge model defines but Switchboard does not serve (yet). Never a fake success."""

    code = "UnsupportedOperationException"


class RequestEntityTooLargeException(ServiceError):
    """The HTTP body exceeds the router's hard cap; refused before it is read in full."""

    code = "RequestEntityTooLargeException"
    status = 413
