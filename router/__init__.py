"""The EventBridge-compatible service (filled in by the service work)."""

__all__: list[str] = []
