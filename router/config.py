"""Declarative config: the buses, rules and targets in `config/*.yaml`, validated and applied at start-up.

This is the public face of the feature; the work is split by concern:
- `router.config_schema`: the files' JSON Schema (shipped as `config/schema.json`) and its error messages;
- `router.config_load`: YAML -> schema -> semantic checks -> a frozen `ConfigSet` (`load_dir`);
- `router.config_apply`: `apply(config, dispatcher)` makes Redis match, idempotently, through the API operations.

`switchboard serve --config DIR` calls `load_dir` then `apply`; `switchboard config validate DIR` calls
`validate_command`, which needs no Redis. See docs/config.md for the file format.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from router.config_apply import ApplyReport, ConfigApplyError, apply
from router.config_load import load_dir, load_text
from router.config_model import BusConfig, ConfigError, ConfigSet, Problem, RuleConfig, TargetConfig

__all__ = [
    "ApplyReport",
    "BusConfig",
    "ConfigApplyError",
    "ConfigError",
    "ConfigSet",
    "Problem",
    "RuleConfig",
    "TargetConfig",
    "apply",
    "load_dir",
    "load_text",
    "validate_command",
]


def validate_command(path: str | Path, out: TextIO | None = None) -> int:
    """`switchboard config validate DIR`: print every problem on its own line; 0 if the directory is valid, else 1."""
    stream = sys.stdout if out is None else out
    try:
        config = load_dir(path)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=stream)
        return 1
    print(
        f"{path}: OK ({len(config.files)} files, {len(config.buses)} buses, {len(config.rules)} rules, "
        f"{config.target_count} targets)",
        file=stream,
    )
    return 0
