"""Declarative config: the buses, rules and targets in `config/*.yaml`, validated and applied at start-up, each file
in the (account, region) namespace it names (`Placement`; none: the home namespace).

This is the public face of the feature; the work is split by concern:
- `router.config.schema`: the files' JSON Schema (shipped as `config/schema.json`) and its error messages;
- `router.config.loader`: YAML -> schema -> semantic checks -> a frozen `ConfigSet` (`load_dir`);
- `router.config.applier`: `apply(config, dispatcher)` makes Redis match, idempotently, through the API operations.

`switchboard serve --config DIR` calls `load_dir` then `apply`; `switchboard config validate DIR` calls
`validate_command`, which needs no Redis. See docs/config.md for the file format.
"""

from __future__ import annotations

from router.config.applier import ApplyReport, ConfigApplyError, apply
from router.config.loader import load_dir, load_text
from router.config.model import BusConfig, ConfigError, ConfigSet, Placement, Problem, RuleConfig, TargetConfig
from router.config.validate import validate_command

__all__ = [
    "ApplyReport",
    "BusConfig",
    "ConfigApplyError",
    "ConfigError",
    "ConfigSet",
    "Placement",
    "Problem",
    "RuleConfig",
    "TargetConfig",
    "apply",
    "load_dir",
    "load_text",
    "validate_command",
]
