"""The order-to-cash example: the saga (`definition`), its services (`services`), the rules that wire them (`config/`),
and the demo (`demo`, `switchboard demo order-to-cash`)."""

from sagas.examples.order_to_cash.definition import NAME, QUEUE, Timings, order_to_cash

__all__ = ["NAME", "QUEUE", "Timings", "order_to_cash"]
