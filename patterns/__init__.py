"""EventBridge's event-pattern language, compiled into one automaton (see issue 2; filled in by patterns work)."""

__all__: list[str] = []
