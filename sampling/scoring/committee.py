"""Committee disagreement (DP-GEN's model deviation): how far the members' forces and energies spread.

For atom i, sigma_i = sqrt(<|F_i^m - <F_i>|^2>_m), the root-mean-square deviation of the members' force
vectors from their mean (eV/A); a structure scores the max (``force_std_max``) or the mean
(``force_std_mean``) of sigma_i over its atoms. ``energy_std_per_atom`` is the standard deviation over members
of the energy per atom (eV/atom) after removing each member's mean over the candidates of the same
composition: members trained on different functionals (CHGNet r2scan vs 0.3.0: -10.8 vs -4.05 eV/atom for Cu)
differ by composition-dependent reference energies that say nothing about uncertainty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curate.models.committee import CommitteePredictions
from sampling.scoring.base import Need, ScoringInputs, check_needs

COMMITTEE: frozenset[Need] = frozenset({"committee"})


def force_deviation_per_atom(forces_by_model: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """sigma_i = sqrt(mean over models of |F_i^m - <F_i>|^2); input M arrays of shape (n, 3), output shape (n,)."""
    stacked = np.stack([np.asarray(f, dtype=np.float64) for f in forces_by_model])
    if stacked.ndim != 3 or stacked.shape[2] != 3:
        raise ValueError(f"expected M arrays of shape (n, 3), got {stacked.shape}")
    deviation = stacked - stacked.mean(axis=0)
    return np.sqrt((deviation**2).sum(axis=2).mean(axis=0))


def _per_structure(predictions: CommitteePredictions, reduce: Callable[[np.ndarray], float]) -> np.ndarray:
    """``reduce`` of sigma_i over each structure's atoms, shape (N,), eV/A."""
    sigma = force_deviation_per_atom(predictions.forces_ev_per_ang)
    starts, counts = predictions.atom_starts, predictions.nsites
    return np.array([reduce(sigma[s : s + n]) for s, n in zip(starts, counts, strict=True)], dtype=np.float64)


def energy_spread_per_atom(predictions: CommitteePredictions, compositions: Sequence[str] | None) -> np.ndarray:
    """Std over members of E^m / n after centring each member within each composition, shape (N,), eV/atom.

    ``compositions`` (reduced formula per structure) groups the structures; None puts them all in one group.
    """
    n = len(predictions)
    per_atom = predictions.energy_ev / np.asarray(predictions.nsites, dtype=np.float64)
    groups = np.zeros(n, dtype=np.int64) if compositions is None else np.unique(compositions, return_inverse=True)[1]
    centred = np.empty_like(per_atom)
    for group in np.unique(groups):
        members_of = groups == group
        centred[:, members_of] = per_atom[:, members_of] - per_atom[:, members_of].mean(axis=1, keepdims=True)
    return centred.std(axis=0)


def force_std_max(predictions: CommitteePredictions, candidates: pa.Table) -> np.ndarray:
    """max_i sigma_i over each structure's atoms (the worst-described atom decides), shape (N,), eV/A."""
    return _per_structure(predictions, np.max)


def force_std_mean(predictions: CommitteePredictions, candidates: pa.Table) -> np.ndarray:
    """mean_i sigma_i over each structure's atoms (disagreement over the whole cell), shape (N,), eV/A."""
    return _per_structure(predictions, np.mean)


def energy_std_per_atom(predictions: CommitteePredictions, candidates: pa.Table) -> np.ndarray:
    """:func:`energy_spread_per_atom` grouped by the candidates' ``chemical_formula_reduced``, shape (N,), eV/atom."""
    return energy_spread_per_atom(predictions, candidates.column("chemical_formula_reduced").to_pylist())


@dataclass(frozen=True)
class CommitteeScore:
    """A score computed from the committee's predictions (and the candidate rows) by ``compute``.

    Attributes:
        name: registry name (the score's column).
        unit: eV/A for force spreads, eV/atom for energy spreads.
        compute: (predictions, candidates) -> shape (N,) array in ``unit``.
    """

    name: str
    unit: str
    compute: Callable[[CommitteePredictions, pa.Table], np.ndarray]
    needs: frozenset[Need] = COMMITTEE

    def score(self, inputs: ScoringInputs) -> np.ndarray:
        """Shape (N,), in ``unit``."""
        check_needs(self, inputs.available)
        assert inputs.committee is not None
        return self.compute(inputs.committee, inputs.candidates)


COMMITTEE_SCORERS = (
    CommitteeScore("force_std_max", "eV/A", force_std_max),
    CommitteeScore("force_std_mean", "eV/A", force_std_mean),
    CommitteeScore("energy_std_per_atom", "eV/atom", energy_std_per_atom),
)
