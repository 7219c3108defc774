"""Archive and replay ARNs: `arn:aws:events:<region>:<account>:archive/<name>` and `...:replay/<name>`."""

from __future__ import annotations

from router.arns import Arns

__all__ = ["archive_arn", "archive_name", "replay_arn"]


def archive_arn(arns: Arns, name: str) -> str:
    return f"arn:{arns.partition}:events:{arns.region}:{arns.account_id}:archive/{name}"


def replay_arn(arns: Arns, name: str) -> str:
    return f"arn:{arns.partition}:events:{arns.region}:{arns.account_id}:replay/{name}"


def archive_name(arns: Arns, arn: str) -> str | None:
    """The archive an ARN of ours names; None for any other ARN (another account's or region's, or not an
    archive's)."""
    prefix = archive_arn(arns, "")
    if not arn.startswith(prefix) or len(arn) == len(prefix):
        return None
    return arn[len(prefix) :]
