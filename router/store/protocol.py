"""The two storage interfaces of the control plane: buses, and rules with their targets.

Records are plain JSON-ready dicts in the formats `router.keys` documents. Mutations that depend on the current
state take a `mutate` function and are applied atomically (check-and-set), so callers write the business rule
("tags are kept on update", "state becomes DISABLED") as ordinary Python and never race another writer.
Methods raise the wire errors (`ResourceNotFoundException`, ...) for conditions only the store can check
atomically, and `InternalException` when Redis fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from router.namespace import Namespace

Record = dict[str, Any]
RuleMutation = Callable[[Record | None], Record | None]
"""Gets the current rule record (None if absent) and returns the new one (None deletes it)."""


class BusStore(Protocol):
    namespace: Namespace
    """The (account, region) whose buses the store holds (router.namespace)."""

    def within(self, namespace: Namespace) -> BusStore:
        """The same store for the buses of another namespace."""

    def bus_id(self, name: str) -> str:
        """The key-layout name of bus `name` (router.keys `Keys.scoped`): what every key of the bus is built from."""

    async def ensure(self, record: Record) -> None:
        """Create the bus if it does not exist yet (idempotent; used for `default`)."""

    async def create(self, record: Record) -> bool:
        """Create the bus; False if a bus of that name already exists."""

    async def get(self, name: str) -> Record | None: ...

    async def all(self) -> list[Record]:
        """All buses, sorted by name."""

    async def delete(self, name: str) -> None:
        """Delete the bus; ValidationException if it still has rules. Deleting a missing bus is a no-op."""

    async def update(self, name: str, mutate: Callable[[Record], Record]) -> Record | None:
        """Replace the bus record with `mutate(current)` atomically; None if the bus does not exist."""


class RuleStore(Protocol):
    namespace: Namespace

    def within(self, namespace: Namespace) -> RuleStore:
        """The same store for the buses of another namespace."""

    def bus_id(self, bus: str) -> str:
        """The key-layout name of bus `bus` of the store's namespace."""

    async def get(self, bus: str, name: str) -> Record | None: ...

    async def all(self, bus: str) -> list[Record]:
        """All rules of the bus, sorted by name."""

    async def update(self, bus: str, name: str, mutate: RuleMutation, *, keep_targets: bool = True) -> Record | None:
        """Apply `mutate` to the rule atomically and bump the bus version; returns the new record.

        A deletion with `keep_targets` refuses (ValidationException) while the rule has targets; without it the
        targets go too. ResourceNotFoundException if the bus does not exist."""

    async def put_targets(self, bus: str, rule: str, targets: Sequence[Record]) -> None:
        """Add or replace targets by Id, all or nothing; LimitExceededException past five per rule."""

    async def remove_targets(self, bus: str, rule: str, ids: Sequence[str]) -> None: ...

    async def targets(self, bus: str, rule: str) -> list[Record]:
        """The rule's targets, sorted by Id."""

    async def targets_by_rule(self, bus: str, rules: Sequence[str]) -> dict[str, list[Record]]: ...
