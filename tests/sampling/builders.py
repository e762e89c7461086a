"""Committee predictions and candidate tables built from given arrays, for scorer and selector tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from curate.models.committee import CommitteePredictions
from sampling.scoring import SCORERS, ScoringInputs


def committee_predictions(
    forces: Sequence[Sequence[np.ndarray]], energies: np.ndarray, nsites: Sequence[int]
) -> CommitteePredictions:
    """Predictions where member m's forces on structure k are ``forces[m][k]`` (n_k, 3), energies (M, N), eV."""
    return CommitteePredictions(
        members=tuple({"name": f"member-{m}"} for m in range(len(forces))),
        energy_ev=np.asarray(energies, dtype=np.float64),
        forces_ev_per_ang=np.stack([np.concatenate(member) for member in forces]),
        nsites=np.asarray(nsites),
    )


def committee_scores(
    forces: Sequence[Sequence[np.ndarray]],
    energies: np.ndarray,
    nsites: Sequence[int],
    formulas: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Every committee score of N candidates named c00, c01, ... (one composition unless ``formulas``)."""
    n = len(nsites)
    candidates = pa.table(
        {"id": [f"c{k:02d}" for k in range(n)], "chemical_formula_reduced": list(formulas or ["X"] * n)}
    )
    inputs = ScoringInputs(candidates=candidates, committee=committee_predictions(forces, energies, nsites))
    return {name: scorer.score(inputs) for name, scorer in SCORERS.items() if scorer.needs == {"committee"}}
