"""A dataset's quarantine: records an import turned away, one JSON object a line, with file, record, field, reason.

The file is opened without following symbolic links, so a link planted under its name cannot make curate read or
append to a file outside the dataset folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from curate.dataset.io import open_no_follow

QUARANTINE_NAME = "quarantine.jsonl"


class Quarantine:
    """``FOLDER/quarantine.jsonl``, appended one line per rejected record, each (file, record, field, reason) once."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / QUARANTINE_NAME
        self._keys: set[tuple[Any, ...]] | None = None
        self._fh: IO[str] | None = None

    def records(self) -> list[dict[str, Any]]:
        """Every rejected record written so far, oldest first."""
        if not self.path.is_symlink() and not self.path.exists():
            return []
        with os.fdopen(open_no_follow(self.path, os.O_RDONLY), encoding="utf-8") as fh:
            return [json.loads(line) for line in fh.read().splitlines() if line.strip()]

    def add(self, *, file: str | None, record: str | None, field: str | None, reason: str) -> bool:
        """Append one rejected record (flushed at once); False when the same one is already there."""
        key = (file, record, field, reason)
        if self._keys is None:
            self._keys = {(q.get("file"), q.get("record"), q.get("field"), q.get("reason")) for q in self.records()}
        if key in self._keys:
            return False
        self._keys.add(key)
        if self._fh is None:
            fd = open_no_follow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            self._fh = os.fdopen(fd, "a", encoding="utf-8")
        self._fh.write(json.dumps({"file": file, "record": record, "field": field, "reason": reason}) + "\n")
        self._fh.flush()
        return True

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
