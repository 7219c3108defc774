"""`switchboard config validate DIR`: check a config directory without Redis or a server, report every problem."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from router.config.loader import load_dir
from router.config.model import ConfigError
from router.namespace import DEFAULT, Namespace
from router.startup import ExitCode


def validate_command(path: str | Path, out: TextIO | None = None, *, home: Namespace = DEFAULT) -> int:
    """`switchboard config validate DIR`: print every problem on its own line; 0 if the directory is valid, else 4
    (`router.startup.ExitCode.CONFIG_INVALID`, the code `switchboard serve` exits with for the same files). `home`
    is the home namespace, which files naming no account or region are in (router.config.loader)."""
    stream = sys.stdout if out is None else out
    try:
        config = load_dir(path, home)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=stream)
        return int(ExitCode.CONFIG_INVALID)
    for warning in config.warnings:
        print(warning, file=stream)
    print(
        f"{path}: OK ({len(config.files)} files, {len(config.buses)} buses, {len(config.rules)} rules, "
        f"{config.target_count} targets)",
        file=stream,
    )
    return 0
