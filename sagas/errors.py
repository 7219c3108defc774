"""The sagas' errors: a definition that cannot work (found when it is compiled, before anything runs), and what the
runtime reports about its Redis and its publishing."""

from __future__ import annotations

__all__ = ["DispatchError", "SagaDefinitionError", "SagaError"]


class SagaError(Exception):
    """Base class of the sagas' errors."""


class SagaDefinitionError(SagaError):
    """A saga definition is not valid: an unknown state, a final state with transitions, a bad name, ..."""


class DispatchError(SagaError):
    """An outgoing message could not be dispatched (PutEvents failed, Redis unavailable); it stays in the outbox.

    `permanent` is True when retrying cannot help (the router refused the entry as invalid)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
