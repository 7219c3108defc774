"""The repository is self-contained (issue 8): a clone with nothing beside it has every file its tests, benchmarks
and docs use, so no file of the repository may read or name the folder of reading material that sits beside our
own checkouts (`../shared`, by a relative path, an absolute one, or a path built from pieces)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

OUTSIDE = re.compile(
    r"""\.\./+shared\b"""  # ../shared, ../../shared/...
    r"""|/work/shared\b"""  # the absolute path on the team's machines
    r"""|["']\.\.["']\s*[/,]\s*["']shared["']"""  # ROOT / ".." / "shared", os.path.join(ROOT, "..", "shared")
    r"""|\.parent\s*/\s*["']shared["']""",  # ROOT.parent / "shared"
    re.IGNORECASE,
)


def repository_files() -> list[Path]:
    """The files a clone has: git's tracked files (and new ones not ignored), else everything but tool folders."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
        return [REPO / name for name in listed.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an unpacked archive)
        skipped = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
        return [p for p in REPO.rglob("*") if p.is_file() and not skipped & set(p.relative_to(REPO).parts)]


def test_the_pattern_finds_every_way_of_naming_the_folder_beside() -> None:
    named = [
        "python3 ../shared/bench/citylots.py",
        'SHARED = ROOT / ".." / "shared"',
        "os.path.join(ROOT, '..', 'shared')",
        'ROOT.parent / "shared" / "conformance"',
        "see /work/shared/docs/peers.md",
    ]
    assert [text for text in named if not OUTSIDE.search(text)] == []
    assert not OUTSIDE.search('events_client.create_event_bus(Name="shared")')  # a bus called "shared" is fine


def test_no_repository_file_refers_to_the_folder_beside_the_checkout() -> None:
    this = Path(__file__).resolve()
    found = []
    for path in repository_files():
        if path.resolve() == this or not path.is_file():
            continue
        try:
            text = path.read_text(errors="strict")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (screenshots) cannot name a path a program follows
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert found == [], "files that refer to the folder beside the repository:\n" + "\n".join(found)
