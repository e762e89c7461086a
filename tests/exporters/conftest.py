"""Datasets imported once per session from the real files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.sources.ingest import import_paths

# name -> (file under ../shared/data, import format); magnetism has magmoms and a GGA+U (Co U=3.32) task
REAL_FILES = {
    "as2so6": ("emmet/test_As2SO6_tasks.json.gz", "mp-tasks"),
    "magnetism": ("emmet/magnetism_task_docs.json.gz", "mp-tasks"),
    "matpes_r2scan": ("matcalc/MatPES-r2SCAN-Element-Refs.json.gz", "matpes"),
}


@pytest.fixture(scope="session")
def real_datasets(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Dataset directories imported from :data:`REAL_FILES`, with nothing quarantined."""
    root = tmp_path_factory.mktemp("real")
    out = {}
    for name, (relative, format_name) in REAL_FILES.items():
        report = import_paths([shared_data / relative], format_name=format_name, out=root / name)
        assert report.quarantined == 0 and report.rows_added > 0, (name, report)
        out[name] = root / name
    return out
