"""Which transport delivers a target, chosen by the service in its ARN, and the protocol they share.

| ARN | transport |
|---|---|
| `arn:aws:sqs:R:A:NAME` | queue (router.delivery.queues) |
| `arn:aws:events:R:A:event-bus/NAME` | event bus (router.delivery.bus_target) |
| `arn:aws:lambda:R:A:function:NAME` | function URL (router.delivery.functions) |
| `arn:aws:events:R:A:api-destination/NAME/ID` | API destination (router.delivery.api_destinations) |

Any other target (SNS, Kinesis, Step Functions, ...) is stored by PutTargets, as on AWS, but cannot be delivered
here: each delivery fails with NO_RESOURCE ("Switchboard does not deliver to sns targets"), is not retried, and goes
to the target's DLQ when it has one. Batched transports (queue, bus) take many jobs per call; the HTTP ones take one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from router.delivery.jobs import Job
from router.delivery.retry import Failure

__all__ = ["Transport", "Transports", "service_of"]


class Transport(Protocol):
    batched: bool

    async def deliver(self, jobs: Sequence[Job]) -> list[Failure | None]:
        """One outcome per job, in order: None when delivered."""
        ...


def service_of(arn: str) -> str:
    """`queue`, `bus`, `function`, `api-destination`, or the ARN's service name for what is not delivered here."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return ""
    service, resource = parts[2], parts[5]
    if service == "sqs":
        return "queue"
    if service == "lambda" and resource.startswith("function:"):
        return "function"
    if service == "events" and resource.startswith("event-bus/"):
        return "bus"
    if service == "events" and resource.startswith("api-destination/"):
        return "api-destination"
    return service


class _Unsupported:
    batched = True

    async def deliver(self, jobs: Sequence[Job]) -> list[Failure | None]:
        return [
            Failure(
                "NO_RESOURCE", f"Switchboard does not deliver to {service_of(str(j.target['Arn']))} targets.", False
            )
            for j in jobs
        ]


@dataclass(frozen=True, slots=True)
class Transports:
    queue: Transport
    bus: Transport
    function: Transport
    api_destination: Transport

    def for_arn(self, arn: str) -> Transport:
        service = service_of(arn)
        if service == "queue":
            return self.queue
        if service == "bus":
            return self.bus
        if service == "function":
            return self.function
        if service == "api-destination":
            return self.api_destination
        return _UNSUPPORTED


_UNSUPPORTED: Transport = _Unsupported()
