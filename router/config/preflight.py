"""The checks applying a config makes against the stored state before it writes anything.

`router.config.loader` checks everything a config directory says on its own (and `switchboard config validate`
reports it without Redis). What only the stored state can tell is checked here, with read-only operations, for
every declaration at once, so an apply that would fail part-way is refused before its first write:

- a rule that exists and is managed by a service (`ManagedBy`): PutRule and PutTargets refuse to change it;
- a rule whose targets created over the API, which config keeps, plus the declared ones exceed 5 (PutTargets'
  LimitExceededException).

Each rule is checked in its (account, region) namespace (its file's `Placement`), as it is applied.

Anything else that fails while applying (Redis going away, a concurrent change) stops the apply where it is, and
`ConfigApplyError` reports precisely what was applied before it.
"""

from __future__ import annotations

from typing import Any

from router.config.loader import MAX_TARGETS_PER_RULE
from router.config.model import ConfigSet, Problem, RuleConfig, target_member
from router.errors import ResourceNotFoundException
from router.namespace import entered
from router.protocol import Dispatcher

__all__ = ["preflight"]


async def preflight(config: ConfigSet, dispatcher: Dispatcher, owned: set[str]) -> list[Problem]:
    """Every problem the stored state would cause while applying `config`; [] when applying can proceed."""
    problems: list[Problem] = []
    keys = dispatcher.state.keys
    for rule in config.rules:
        namespace = rule.placement.resolve(keys.home)
        with entered(namespace):
            problems.extend(await _rule_problems(rule, dispatcher, owned, keys.scoped(rule.bus, namespace)))
    return problems


async def _rule_problems(rule: RuleConfig, dispatcher: Dispatcher, owned: set[str], bus_key: str) -> list[Problem]:
    try:
        current = await dispatcher.call("DescribeRule", {"Name": rule.name, "EventBusName": rule.bus})
    except ResourceNotFoundException:
        return []  # a new rule (or a new bus): nothing stored can be in the way
    managed_by = current.get("ManagedBy")
    if managed_by:
        reason = f"rule {rule.name!r} on bus {rule.bus!r} is managed by {managed_by}; config cannot change it"
        return [Problem(rule.file, f"{rule.path}.name", reason)]
    declared = {target.id for target in rule.targets}
    kept: list[str] = []
    body: dict[str, Any] = {"Rule": rule.name, "EventBusName": rule.bus}
    while True:
        page = await dispatcher.call("ListTargetsByRule", body)
        for target in page.get("Targets", []):
            target_id = str(target["Id"])
            if target_id not in declared and target_member(bus_key, rule.name, target_id) not in owned:
                kept.append(target_id)
        token = page.get("NextToken")
        if not token:
            break
        body = {**body, "NextToken": token}
    if len(declared) + len(kept) > MAX_TARGETS_PER_RULE:
        reason = (
            f"the rule would have {len(declared) + len(kept)} targets: {len(declared)} declared here and "
            f"{len(kept)} created over the API ({', '.join(sorted(kept))}), which config keeps; a rule can have at "
            f"most {MAX_TARGETS_PER_RULE}"
        )
        return [Problem(rule.file, f"{rule.path}.targets", reason)]
    return []
