"""Models cached per worker process, so model-bearing tasks load each model once per worker, not per task.

A task names its model by spec and device; :func:`worker_model` loads it on first use in this process and
returns the same object afterwards. Works the same in-process, in a process pool and on Dask workers.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from curate.execution.cache import builds, worker_cached

if TYPE_CHECKING:
    from curate.models.base import Model


def worker_model(spec: str, *, device: str | None = None) -> Model:
    """The model ``spec`` on ``device`` (cpu, cuda, auto/None), loaded at most once in this process.

    Raises:
        ConfigurationError: unknown spec or missing weights (from :func:`curate.models.registry.load_model`).
    """

    def load() -> Model:
        from curate.models.registry import load_model

        return load_model(spec, device=device)

    return worker_cached(("model", spec, device), load)


def model_loads() -> dict[str, object]:
    """This process's id and how many times each ``spec@device`` was loaded in it (for tests and benchmarks)."""
    loads = {f"{key[1]}@{key[2]}": n for key, n in builds().items() if isinstance(key, tuple) and key[0] == "model"}
    return {"pid": os.getpid(), "loads": loads}
