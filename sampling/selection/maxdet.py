"""Max-det: the batch whose last-layer gradient features span the largest volume (Zaverkin et al. 2022).

Batch-mode active learning for interatomic potentials (Zaverkin, Holzmüller, Steinwart & Kästner, Digital
Discovery 1, 605 (2022); Holzmüller et al., JMLR 24, 164 (2023)) treats the trained weights' gradient features
g_i of each candidate as the features of a Bayesian linear model: weights ~ N(0, I), observations with noise
variance lambda. The posterior variance of candidate i given a labelled set S,

    v_i(S) = k_ii - k_iS' (K_SS + lambda I)^-1 k_iS,      k_ij = g_i . g_j,

is a last-layer Laplace (prediction-rigidity) variance: how little the set S constrains i's prediction.
Picking greedily the largest v_i maximises det(K_SS + lambda I) step by step: each pick is the candidate the
picks so far say least about, so the batch is informative (large gradients) and diverse (no direction twice).

The features are the candidates' label-free loss gradients over the weights the fine-tune trains (the ones
``gradient`` matches; :mod:`curate.training.softening_gradients`), taken raw: their size is the information a
structure carries. lambda is 1e-6 of the mean squared gradient norm, a tiny noise that keeps the determinant
defined once the picks span every direction. The posterior variances are updated by a pivoted Cholesky step per
pick, from one column of K at a time: memory O(N budget), never the N x N kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sampling.selection.base import CandidatePool, Pick, loss_gradient_matrix, smallest_id_of_best

RELATIVE_NOISE = 1e-6


def max_det_order(gradients: np.ndarray, budget: int, ids: Sequence[str]) -> list[tuple[int, float]]:
    """Greedy max-det picks of the rows of ``gradients`` (N, D): (row, share of its prior variance left) each.

    Each step takes the row with the largest posterior variance given the rows taken before it; exact ties go to
    the smallest id. The share is v_i(S) / k_ii at the moment of the pick (1 for the first; 0 for a zero row).
    """
    n = len(gradients)
    prior = np.einsum("ij,ij->i", gradients, gradients)
    noise = RELATIVE_NOISE * (float(prior.mean()) or 1.0)  # all-zero gradients: any positive noise will do
    variance = prior.copy()
    factors: list[np.ndarray] = []  # columns c_t with v_i = k_ii - sum_t c_t[i]^2
    chosen: list[tuple[int, float]] = []
    available = np.ones(n, dtype=bool)
    for _ in range(min(budget, n)):
        best = smallest_id_of_best(np.where(available, variance, -np.inf), ids)
        share = float(variance[best] / prior[best]) if prior[best] > 0 else 0.0
        chosen.append((best, share))
        available[best] = False
        column = gradients @ gradients[best]
        for factor in factors:
            column -= factor * factor[best]
        factor = column / np.sqrt(variance[best] + noise)
        factors.append(factor)
        variance = np.maximum(variance - factor**2, 0.0)
    return chosen


@dataclass(frozen=True)
class MaxDet:
    """Greedy max-det batch selection on the raw ``pool.loss_gradients`` (see the module docstring)."""

    name: str = "maxdet"

    def select(self, pool: CandidatePool, *, budget: int, seed: int) -> list[Pick]:
        """Ordered picks; each is the candidate with the largest posterior variance given the picks before it."""
        gradients = loss_gradient_matrix(pool, "max-det")
        if len(pool) == 0 or budget <= 0:
            return []
        picks: list[Pick] = []
        for best, share in max_det_order(gradients, budget, pool.ids):
            reason = (
                "the candidate the picks before it constrain least: largest posterior variance of its last-layer "
                f"gradient features ({100 * share:.3g} % of its prior variance left)"
            )
            picks.append(Pick(len(picks) + 1, best, pool.ids[best], reason, pool.score_summary(best)))
        return picks
