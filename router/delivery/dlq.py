"""Dead-letter messages: what a target's `DeadLetterConfig` queue receives when a delivery is given up (pure).

As on EventBridge, the body is the original event (not the shaped input), and the message carries the attributes
`RULE_ARN`, `TARGET_ARN`, `ERROR_CODE`, `ERROR_MESSAGE`, `EXHAUSTED_RETRY_CONDITION` (`MaximumRetryAttempts` or
`MaximumEventAgeInSeconds`) and `RETRY_ATTEMPTS` (retries made, so 0 when the first attempt was the last). A failure
that is not retried (a 4xx other than 429, a missing resource) exhausted no condition, so that message has no
`EXHAUSTED_RETRY_CONDITION`. Error codes: THROTTLING (429), SERVER_ERROR (5xx), CLIENT_ERROR (other 4xx),
NO_PERMISSIONS (401/403/407 or a deauthorized connection), NO_RESOURCE (404/410, an unknown function, API
destination, bus or queue ARN, or an unsupported target service), TIMEOUT (5 s), CONNECTION_ERROR, and
LOOP_DETECTED (router.delivery.bus_target).

The DLQ message's `delivery_id` is the failed delivery's id, so a DLQ consumer can drop duplicates too.
"""

from __future__ import annotations

from typing import Any

from router.delivery.jobs import Job
from router.delivery.queues import message_fields, queue_of_arn
from router.delivery.retry import Failure
from router.keys import Keys

__all__ = ["dlq_message", "dlq_queue"]


def dlq_queue(keys: Keys, target: dict[str, Any]) -> str | None:
    """The queue of the target's DeadLetterConfig, its key-layout name in the namespace its ARN names
    (router.delivery.queues `queue_of_arn`); None without one (an unusable ARN also gives None)."""
    arn = (target.get("DeadLetterConfig") or {}).get("Arn")
    return queue_of_arn(keys, str(arn)) if arn else None


def has_dlq(target: dict[str, Any]) -> bool:
    return bool((target.get("DeadLetterConfig") or {}).get("Arn"))


def dlq_attributes(
    *, rule_arn: str, target_arn: str, failure: Failure, condition: str | None, attempts_made: int
) -> dict[str, str]:
    attributes = {
        "RULE_ARN": rule_arn,
        "TARGET_ARN": target_arn,
        "ERROR_CODE": failure.code,
        "ERROR_MESSAGE": failure.message,
    }
    if condition is not None:
        attributes["EXHAUSTED_RETRY_CONDITION"] = condition
    attributes["RETRY_ATTEMPTS"] = str(max(attempts_made - 1, 0))
    return attributes


def dlq_message(
    job: Job, *, rule_arn: str, failure: Failure, condition: str | None, attempts_made: int, now_ms: int
) -> dict[str, Any]:
    """The stream fields of the DLQ message for `job`."""
    if job.target.get("ScheduleArn"):
        scheduler = scheduler_dlq_attributes(job, failure=failure, condition=condition, attempts_made=attempts_made)
        return message_fields(job.delivery_id, job.event, attributes=scheduler, now_ms=now_ms)
    attributes = dlq_attributes(
        rule_arn=rule_arn,
        target_arn=str(job.target.get("Arn", "")),
        failure=failure,
        condition=condition,
        attempts_made=attempts_made,
    )
    return message_fields(job.delivery_id, job.event, attributes=attributes, now_ms=now_ms)


def scheduler_dlq_attributes(
    job: Job, *, failure: Failure, condition: str | None, attempts_made: int
) -> dict[str, str]:
    """EventBridge Scheduler's dead-letter attributes, for a job made by a schedule (its target has `ScheduleArn`,
    router.schedules.scheduler.firing): the schedule, not a rule, and Scheduler's own `X-Amz-Scheduler-*` headers."""
    attributes = {
        "ERROR_CODE": failure.code,
        "ERROR_MESSAGE": failure.message,
        "INVOCATION_ID": job.delivery_id.split(":", 1)[0],
        "RETRY_ATTEMPTS": str(max(attempts_made - 1, 0)),
        "SCHEDULE_ARN": str(job.target["ScheduleArn"]),
        "TARGET_ARN": str(job.target.get("Arn", "")),
        "X-Amz-Scheduler-Attempt": str(max(attempts_made, 1)),
        "X-Amz-Scheduler-Group": str(job.target.get("ScheduleGroup", "")),
        "X-Amz-Scheduler-Schedule": job.rule,
    }
    if condition is not None:
        attributes["EXHAUSTED_RETRY_CONDITION"] = condition
    return dict(sorted(attributes.items()))


def failure_of(error: str) -> Failure:
    """The last failure recorded on a job (`CODE message`), for a job that expires before its next attempt."""
    code, _, message = error.partition(" ")
    return Failure(
        code or "MAX_EVENT_AGE_EXCEEDED", message or "The event is older than MaximumEventAgeInSeconds.", False
    )
