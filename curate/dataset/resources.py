"""Files that ship with curate: the schemas (``schemas/``) and the built-in recipes (``datasets/``).

In a source checkout they sit beside the ``curate`` package; in an installed wheel they are copied into it as
``curate/_schemas`` and ``curate/_datasets`` (see ``[tool.hatch.build.targets.wheel.force-include]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

PackagedFolder = Literal["schemas", "datasets"]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def packaged_file(folder: PackagedFolder, name: str) -> Path:
    """Path of ``name`` in the shipped ``folder``; FileNotFoundError names both places looked in."""
    candidates = (_PACKAGE_DIR.parent / folder / name, _PACKAGE_DIR / f"_{folder}" / name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{name} not found in {' or '.join(str(c.parent) for c in candidates)}")
