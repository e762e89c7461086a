"""Descriptor novelty of candidates against a reference (training) dataset.

A candidate's novelty is the largest, over its atoms, of the distance from the atom's SOAP environment to the
nearest reference environment of the same element (curate.diagnostics.coverage: PCA fitted on the reference,
KD-trees per element). SOAP vectors have unit length, so distances lie in [0, 2]; an element the reference
never saw scores the maximum, 2.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from curate.dataset.configuration import Configuration, configurations_to_batch
from curate.dataset.store import Dataset

ABSENT_ELEMENT_DISTANCE = 2.0


def structure_novelty(reference_dir: Path, configurations: Sequence[Configuration]) -> np.ndarray:
    """Per-structure novelty (dimensionless SOAP distance), shape (N,), in input order."""
    from curate.diagnostics.coverage import compute_coverage

    reference = Dataset.open(reference_dir)
    batch = configurations_to_batch(list(configurations))
    with tempfile.TemporaryDirectory(prefix="curate-novelty-") as tmp:
        target = Dataset.create(Path(tmp) / "candidates")
        with target.writer() as writer:
            writer.append(batch)
        order = target.read(columns=["id", "nsites"])
        result = compute_coverage(reference, target)
    distances = np.where(np.isfinite(result.distances), result.distances, ABSENT_ELEMENT_DISTANCE)
    counts = np.asarray(order.column("nsites").to_pylist())
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_row = dict(zip(order.column("id").to_pylist(), np.maximum.reduceat(distances, starts), strict=True))
    return np.array([per_row[row_id] for row_id in batch.column("id").to_pylist()], dtype=np.float64)
