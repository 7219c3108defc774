"""The Schemas service's wire errors, as part of the router's one error hierarchy (`router.errors.ServiceError`).

The Schemas API is restJson1: each error has its own HTTP status and travels as the `x-amzn-errortype` header plus
a `{"Code": ..., "Message": ...}` body (botocore reads the header first). The classes are named exactly like the
model's exception shapes, so `client.exceptions.NotFoundException` catches what these raise.
"""

from __future__ import annotations

from router.errors import ServiceError

__all__ = [
    "BadRequestException",
    "ConflictException",
    "ForbiddenException",
    "GoneException",
    "InternalServerErrorException",
    "NotFoundException",
    "PreconditionFailedException",
    "SchemasError",
    "ServiceUnavailableException",
    "TooManyRequestsException",
    "UnauthorizedException",
    "UnsupportedOperationException",
]


class SchemasError(ServiceError):
    """Base of the Schemas API's errors; `code` is the wire error type, `status` the HTTP status."""

    code = "BadRequestException"
    status = 400


class BadRequestException(SchemasError):
    code = "BadRequestException"
    status = 400


class UnauthorizedException(SchemasError):
    code = "UnauthorizedException"
    status = 401


class ForbiddenException(SchemasError):
    code = "ForbiddenException"
    status = 403


class NotFoundException(SchemasError):
    code = "NotFoundException"
    status = 404


class ConflictException(SchemasError):
    code = "ConflictException"
    status = 409


class GoneException(SchemasError):
    code = "GoneException"
    status = 410


class PreconditionFailedException(SchemasError):
    code = "PreconditionFailedException"
    status = 412


class TooManyRequestsException(SchemasError):
    code = "TooManyRequestsException"
    status = 429


class InternalServerErrorException(SchemasError):
    code = "InternalServerErrorException"
    status = 500


class ServiceUnavailableException(SchemasError):
    code = "ServiceUnavailableException"
    status = 503


class UnsupportedOperationException(SchemasError):
    """A path of the Schemas API that Switchboard does not serve: an explicit answer, never a fake success."""

    code = "UnsupportedOperationException"
    status = 400
