"""Descriptor novelty of candidates against a reference (training) dataset.

A candidate's novelty is the largest, over its atoms, of the distance from the atom's SOAP environment to the
nearest reference environment of the same element (curate.diagnostics.coverage: PCA fitted on the reference,
KD-trees per element). SOAP vectors have unit length, so distances lie in [0, 2]; an element the reference
never saw scores the maximum, 2.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa

from curate.dataset.store import Dataset
from sampling.scoring.base import Need, ScoringInputs, check_needs

ABSENT_ELEMENT_DISTANCE = 2.0


def structure_novelty(reference_dir: Path, candidates: pa.Table) -> np.ndarray:
    """Per-candidate novelty (dimensionless SOAP distance, 0 to 2), shape (N,), in the order of ``candidates``."""
    from curate.diagnostics.coverage import compute_coverage

    reference = Dataset.open(reference_dir)
    with tempfile.TemporaryDirectory(prefix="curate-novelty-") as tmp:
        target = Dataset.create(Path(tmp) / "candidates")
        with target.writer() as writer:
            for batch in candidates.to_batches():
                writer.append(batch)
        order = target.read(columns=["id", "nsites"])
        result = compute_coverage(reference, target)
    distances = np.where(np.isfinite(result.distances), result.distances, ABSENT_ELEMENT_DISTANCE)
    counts = np.asarray(order.column("nsites").to_pylist())
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_row = dict(zip(order.column("id").to_pylist(), np.maximum.reduceat(distances, starts), strict=True))
    return np.array([per_row[row_id] for row_id in candidates.column("id").to_pylist()], dtype=np.float64)


@dataclass(frozen=True)
class Novelty:
    """SOAP distance of the candidate's least-covered atom to the reference dataset (0 to 2, dimensionless)."""

    name: ClassVar[str] = "novelty"
    unit: ClassVar[str] = "SOAP distance (0-2)"
    needs: ClassVar[frozenset[Need]] = frozenset({"reference"})

    def score(self, inputs: ScoringInputs) -> np.ndarray:
        """Shape (N,), dimensionless."""
        check_needs(self, inputs.available)
        assert inputs.reference is not None
        return structure_novelty(inputs.reference, inputs.candidates)
