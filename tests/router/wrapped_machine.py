"""A matcher for tests that wraps a real `patterns.Machine` (router.matchers' `machine_factory`): rules go to the
real one, `snapshot` is the wrapper itself (the rules of the tests that use it never change after the first build),
and subclasses change `matches_for_event` (fail, or burn CPU) before asking the real machine."""

from __future__ import annotations

from typing import Any, Self

__all__ = ["WrappedMachine"]


class WrappedMachine:
    def __init__(self) -> None:
        import patterns

        self.real = patterns.Machine()

    def add_rule(self, name: str, pattern: Any) -> None:
        self.real.add_rule(name, pattern)

    def delete_rule(self, name: str) -> bool:
        return self.real.delete_rule(name)

    def snapshot(self, *, specialise: bool = False) -> Self:
        return self

    def matches_for_event(self, event: str | bytes | dict[str, Any]) -> list[str]:
        return self.real.matches_for_event(event)
