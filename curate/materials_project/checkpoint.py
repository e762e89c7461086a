"""Resume state of a pull: the query it answers and the tasks whose rows are committed, in one JSON file.

The file lives in the dataset directory, is rewritten atomically (temporary file + rename) after each batch
of tasks is committed to Parquet, and holds no secrets (the query's filters and options, never the key).
A pull killed between a commit and the checkpoint re-fetches that batch; content-hash ids make the repeat
rows duplicates that are skipped, so the result is the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.dataset.io import atomic_write_text, remove_stale_temporaries
from curate.errors import DatasetError

CHECKPOINT_NAME = "pull-mp.checkpoint.json"
CHECKPOINT_VERSION = 1


@dataclass
class Checkpoint:
    """Tasks done for one query; ``query`` must match for a pull to resume from it."""

    path: Path
    query: dict[str, Any]
    done_task_ids: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, dataset_dir: Path, query: dict[str, Any]) -> Checkpoint:
        """The checkpoint in ``dataset_dir`` for ``query`` (empty when there is none or it answers another query)."""
        path = Path(dataset_dir) / CHECKPOINT_NAME
        remove_stale_temporaries(path.parent, CHECKPOINT_NAME)  # left by a kill during a rewrite
        query = json.loads(json.dumps(query))  # tuples -> lists, as stored
        if not path.is_file():
            return cls(path, query)
        try:
            stored = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: checkpoint is not valid JSON ({exc}); delete it to start over") from None
        if stored.get("version") != CHECKPOINT_VERSION or stored.get("query") != query:
            return cls(path, query)
        return cls(path, query, set(stored.get("done_task_ids") or []))

    def mark_done(self, task_ids: list[str]) -> None:
        """Record ``task_ids`` as committed and rewrite the file atomically."""
        self.done_task_ids.update(task_ids)
        payload = {"version": CHECKPOINT_VERSION, "query": self.query, "done_task_ids": sorted(self.done_task_ids)}
        atomic_write_text(self.path, json.dumps(payload, indent=1, sort_keys=True) + "\n")
