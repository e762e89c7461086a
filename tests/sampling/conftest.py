"""Real parents for the generator tests: the Materials Project Si task documents in ../shared/data, imported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import Configuration, batch_to_configurations
from curate.dataset.store import Dataset
from curate.sources.ingest import import_paths


@pytest.fixture(scope="session")
def si_dataset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``curate import mp-tasks test_si_tasks.json.gz`` into a session directory (7 rows of diamond Si)."""
    out = tmp_path_factory.mktemp("si") / "si"
    report = import_paths([shared_data / "emmet" / "test_si_tasks.json.gz"], format_name="mp-tasks", out=out)
    assert report.rows_added == 7
    return out


@pytest.fixture(scope="session")
def si_rows(si_dataset: Path) -> list[tuple[Configuration, str]]:
    """Every imported Si row with its id: row 0 is the 8-atom conventional cubic cell, rows 1-6 2-atom primitive."""
    batch = next(Dataset.open(si_dataset).iter_batches())
    return list(zip(batch_to_configurations(batch), batch.column("id").to_pylist(), strict=True))


@pytest.fixture(scope="session")
def si_cubic(si_rows: list[tuple[Configuration, str]]) -> tuple[Configuration, str]:
    """The 8-atom conventional diamond cell (a = 5.4687 A) and its row id."""
    parent, row_id = si_rows[0]
    assert parent.nsites == 8 and np.allclose(parent.lattice, np.diag(np.diag(parent.lattice)))
    return parent, row_id


@pytest.fixture(scope="session")
def si_primitive(si_rows: list[tuple[Configuration, str]]) -> tuple[Configuration, str]:
    """A 2-atom primitive diamond cell (non-orthogonal lattice vectors) and its row id."""
    parent, row_id = si_rows[1]
    assert parent.nsites == 2
    return parent, row_id
