"""The EventBridge service model (botocore's `events` 2015-10-07 JSON), loaded once.

botocore ships the same model boto3 clients use, so the operation list, input shapes and constraints we enforce
are the ones the SDKs were generated from, not a hand-copied table.
"""

from __future__ import annotations

from functools import cache

import botocore.session
from botocore.model import ServiceModel


@cache
def events_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("events")


@cache
def operation_names() -> frozenset[str]:
    return frozenset(events_model().operation_names)
