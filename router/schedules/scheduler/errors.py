"""EventBridge Scheduler's wire errors (restJson1): the model's error shapes with their HTTP statuses.

The events API answers every client error with 400; Scheduler uses the statuses in its model (404 for a missing
resource, 409 for a conflict, ...), so it has its own small hierarchy under `router.errors.ServiceError`.
"""

from __future__ import annotations

from router.errors import ServiceError

__all__ = [
    "ConflictException",
    "InternalServerException",
    "ResourceNotFoundException",
    "SchedulerError",
    "ServiceQuotaExceededException",
    "ThrottlingException",
    "ValidationException",
]


class SchedulerError(ServiceError):
    code = "InternalServerException"
    status = 500


class ValidationException(SchedulerError):
    code = "ValidationException"
    status = 400


class ConflictException(SchedulerError):
    code = "ConflictException"
    status = 409


class ResourceNotFoundException(SchedulerError):
    code = "ResourceNotFoundException"
    status = 404


class ServiceQuotaExceededException(SchedulerError):
    code = "ServiceQuotaExceededException"
    status = 402


class ThrottlingException(SchedulerError):
    code = "ThrottlingException"
    status = 429


class InternalServerException(SchedulerError):
    code = "InternalServerException"
    status = 500
