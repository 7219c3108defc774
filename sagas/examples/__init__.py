"""Runnable examples of the sagas library (`sagas.examples.order_to_cash`)."""
