"""Uncertainty scores per candidate structure, from a committee's predictions or from descriptor novelty.

Committee disagreement follows DP-GEN's model deviation: for atom i, sigma_i = sqrt(<|F_i^m - <F_i>|^2>_m),
the root-mean-square deviation of the committee members' force vectors from their mean (eV/A); a structure
scores the max and the mean of sigma_i over its atoms. The energy spread is the standard deviation over
members of the energy per atom (eV/atom) after removing each member's mean over the candidates of the same
composition: members trained on different functionals (CHGNet r2scan vs 0.3.0: -10.8 vs -4.05 eV/atom for
Cu) differ by composition-dependent reference energies that say nothing about uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from curate.models.committee import CommitteePredictions

SCORE_UNITS: dict[str, str] = {
    "force_std_max": "eV/A",
    "force_std_mean": "eV/A",
    "energy_std_per_atom": "eV/atom",
    "novelty": "descriptor distance",
}


def force_deviation_per_atom(forces_by_model: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """sigma_i = sqrt(mean over models of |F_i^m - <F_i>|^2); input M arrays of shape (n, 3), output shape (n,)."""
    stacked = np.stack([np.asarray(f, dtype=np.float64) for f in forces_by_model])
    if stacked.ndim != 3 or stacked.shape[2] != 3:
        raise ValueError(f"expected M arrays of shape (n, 3), got {stacked.shape}")
    deviation = stacked - stacked.mean(axis=0)
    return np.sqrt((deviation**2).sum(axis=2).mean(axis=0))


def committee_scores(
    predictions: CommitteePredictions, compositions: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Scores for N structures from a committee's predictions (M members).

    Args:
        predictions: the members' energies (eV) and forces (eV/A).
        compositions: reduced formula per structure; energies are centred per member within each composition
            (None: one group, for pools of a single composition).

    Returns:
        ``force_std_max`` and ``force_std_mean`` (eV/A) and ``energy_std_per_atom`` (eV/atom), each shape (N,).
    """
    n = len(predictions)
    sigma = force_deviation_per_atom(predictions.forces_ev_per_ang)
    force_max = np.empty(n)
    force_mean = np.empty(n)
    for k, (start, count) in enumerate(zip(predictions.atom_starts, predictions.nsites, strict=True)):
        atoms = sigma[start : start + count]
        force_max[k], force_mean[k] = atoms.max(), atoms.mean()
    per_atom = predictions.energy_ev / np.asarray(predictions.nsites, dtype=np.float64)
    groups = np.zeros(n, dtype=np.int64) if compositions is None else np.unique(compositions, return_inverse=True)[1]
    centred = np.empty_like(per_atom)
    for group in np.unique(groups):
        members_of = groups == group
        centred[:, members_of] = per_atom[:, members_of] - per_atom[:, members_of].mean(axis=1, keepdims=True)
    return {
        "force_std_max": force_max,
        "force_std_mean": force_mean,
        "energy_std_per_atom": centred.std(axis=0),
    }
