"""Durable fan-out: delivery jobs per target, retries with backoff, dead-letter queues (issue 4).

Data flow: the ingest worker matches an event and `DeliverySink` stages one job per target into the target's job
stream, atomically with the event's acknowledgement; `DeliveryWorker` (in every router process) reads the jobs
through a consumer group, delivers them per target (`lanes`), and settles each outcome in Redis: done, retry later
(`retry`), or dead-letter (`dlq`). See docs/delivery.md for the behaviour and docs/queues.md for queue consumers.
"""

from router.delivery.retry import Backoff, Failure, RetryPolicy
from router.delivery.service import Delivery
from router.delivery.sink import DeliverySink
from router.delivery.worker import DeliveryWorker, WorkerOptions

__all__ = ["Backoff", "Delivery", "DeliverySink", "DeliveryWorker", "Failure", "RetryPolicy", "WorkerOptions"]
