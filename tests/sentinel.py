"""A folder's full state (every entry, file bytes, link targets), to show that a command left it untouched."""

from __future__ import annotations

import os
from pathlib import Path


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every path under ``root`` (links not followed): file bytes, ``dir``, or ``-> target`` for a symlink."""
    state: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            state[relative] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            state[relative] = "dir"
        else:
            state[relative] = path.read_bytes()
    return state
