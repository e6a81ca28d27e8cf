"""Which files make up a config directory.

The project file is ``campaignctl.yaml`` (or ``campaignctl.yml``) at the
root. Campaign files are every other ``*.yaml`` / ``*.yml`` below it,
recursively, in sorted order; hidden files and directories (``.git``,
``.campaignctl`` with the state, ``.pre-commit-config.yaml``, ...) are
skipped, and symlinked directories are not followed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PROJECT_FILES", "Discovery", "discover"]

PROJECT_FILES = ("campaignctl.yaml", "campaignctl.yml")
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Discovery:
    root: Path
    project: Path | None  # None when the directory has no project file
    campaigns: tuple[Path, ...]
    problem: str | None = None  # why the directory could not be searched
    ambiguous: tuple[Path, ...] = ()  # both project spellings exist
    unreadable: tuple[str, ...] = ()  # sub-directories that could not be listed


def discover(directory: Path) -> Discovery:
    """Find the project file and the campaign files under ``directory``.

    ``directory`` may also name the project file itself.
    """
    root = Path(directory)
    if root.is_file() and root.name in PROJECT_FILES:
        root = root.parent
    if not root.exists():
        return Discovery(root, None, (), f"config directory {str(root)!r} not found")
    if not root.is_dir():
        return Discovery(root, None, (), f"{str(root)!r} is not a directory")
    present = [root / name for name in PROJECT_FILES if (root / name).is_file()]
    project = present[0] if present else None
    campaigns: list[Path] = []
    unreadable: list[str] = []
    for current, dirs, files in os.walk(root, onerror=lambda exc: unreadable.append(str(exc.filename))):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(current)
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                continue
            path = here / name
            if here == root and name in PROJECT_FILES:
                continue
            campaigns.append(path)
    ambiguous = tuple(present) if len(present) > 1 else ()
    return Discovery(root, project, tuple(campaigns), None, ambiguous, tuple(unreadable))
