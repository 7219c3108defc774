"""The SQS API over the queues that rules deliver to (issue 12): boto3's `sqs` client and `aws sqs` work unchanged.

A queue target's Redis stream (router.delivery.queues, docs/queues.md) is the SQS queue: a message a rule delivered
is the message ReceiveMessage returns. The SQS JSON 1.0 protocol (router.sqs.protocol) dispatches to the
operations (router.sqs.operations), which keep SQS's state beside each stream in the queue's own hash slot
(router.sqs.queues, router.sqs.messages, router.sqs.scripts), long-poll without polling (router.sqs.waiters), and
compute message attribute digests as SQS does (router.sqs.message_attributes).
"""

from router.sqs.service import create_service

__all__ = ["create_service"]
