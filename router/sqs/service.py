"""The SQS API as one service of the port: its stores, its dispatcher, and the `Service` that router.app mounts."""

from __future__ import annotations

import functools

import botocore.session
from starlette.routing import request_response

from router.services import Service
from router.sqs.messages import MessageStore
from router.sqs.operations import SqsApi
from router.sqs.protocol import SqsDispatcher
from router.sqs.queues import QueueStore
from router.sqs.waiters import Waiters
from router.state import AppState

__all__ = ["create_service", "model_operations"]


@functools.cache
def model_operations() -> frozenset[str]:
    """Every operation of botocore's `sqs` model."""
    return frozenset(botocore.session.get_session().get_service_model("sqs").operation_names)


def create_service(state: AppState) -> Service:
    """The `sqs` service on `state`'s Redis; its dispatcher and long-poll waiters go in `state.extras`."""
    queues = QueueStore(state.redis, state.keys)
    waiters = Waiters(state.redis, state.keys)
    messages = MessageStore(state.redis, state.keys, waiters, queues.arn)
    dispatcher = SqsDispatcher(
        SqsApi(queues, messages).handlers(), model_operations(), state.settings.max_request_body_bytes, state.home
    )
    state.extras["sqs"] = dispatcher
    state.extras["sqs_waiters"] = waiters
    return Service(
        "sqs",
        "Amazon Simple Queue Service",
        request_response(dispatcher.handle),
        targets=("AmazonSQS",),
        signing_names=("sqs",),
    )
