"""Information-weighted kernel herding: picks whose fitted correction stands for the whole pool, or for a target.

A linear correction fitted on a set S is the information-weighted mean of its structures' own scales,
s(S) = sum_S Q_i s_i / sum_S Q_i (:mod:`curate.experiments.linear_scale`), where Q_i is how sharply structure i
pins the scale down (its mean squared predicted force, from the model being corrected; exact for structures of
one size; in the fit a larger cell counts n / n_mean times more, a weight that made herding worse on pools no
one tuned on, bench/RESULTS.md, so Q stays per atom). The scale that serves the whole pool is the same mean over
every candidate. Without labels the s_i are unknown, but they vary
smoothly with the structure, so the set is chosen to make the Q-weighted distribution of the picks match the
Q-weighted distribution of the pool in the model's own feature space: greedy minimisation of the maximum mean
discrepancy (kernel herding; Chen, Welling & Smola 2010) between p = Q / sum Q over the pool and
q = Q_S / sum Q_S over the picks,

    MMD^2(S) = p'Kp - 2 p'K q + q'K q,      K_ij = exp(-|x_i - x_j|^2 / h),

with x the standardised features and h the median squared distance between rows (candidates, and target
structures when there are any). This balances
informativeness (Q) against representativeness (K), so a lone frame from the hottest, least typical
simulation is not chosen for its large forces alone.

When the structures the correction is to serve are known (``CandidatePool.target``: e.g. frames of the MD the
corrected model will run, or a benchmark's structures, never their labels), p is their Q-weighted distribution
instead of the pool's: the scale fitted on the picks then stands for the scale that suits the target, which
differs from the pool's when the target lies elsewhere (a hotter or later part of a trajectory). Candidates and
target share one standardisation and one bandwidth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sampling.selection.base import CandidatePool, Pick, smallest_id_of_best

EXACT_KERNEL_MAX_CANDIDATES = 4000
RANDOM_FEATURES = 2048
BANDWIDTH_SAMPLE = 2000


def standardised(features: np.ndarray) -> np.ndarray:
    spread = features.std(axis=0)
    spread[spread == 0] = 1.0
    return (features - features.mean(axis=0)) / spread


def squared_distances(x: np.ndarray) -> np.ndarray:
    """|x_i - x_j|^2 for every pair of rows, shape (R, R), in O(R^2) memory (not the O(R^2 d) of a broadcast)."""
    norms = (x * x).sum(axis=1)
    return np.maximum(norms[:, None] + norms[None, :] - 2.0 * (x @ x.T), 0.0)


def median_squared_distance(x: np.ndarray, rng: np.random.Generator) -> float:
    sample = x if len(x) <= BANDWIDTH_SAMPLE else x[rng.choice(len(x), BANDWIDTH_SAMPLE, replace=False)]
    squared = squared_distances(sample)
    median = float(np.median(squared[np.triu_indices(len(sample), 1)])) if len(sample) > 1 else 1.0
    return median if median > 0 else 1.0


def fourier_map(dimensions: int, bandwidth: float, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """Random Fourier features (Rahimi & Recht 2007) of exp(-|x - y|^2 / bandwidth) for x of ``dimensions``
    columns: z(x) . z(y) approximates the kernel with RANDOM_FEATURES seeded frequencies."""
    frequencies = rng.normal(0.0, np.sqrt(2.0 / bandwidth), (dimensions, RANDOM_FEATURES))
    phases = rng.uniform(0.0, 2 * np.pi, RANDOM_FEATURES)
    return lambda x: np.sqrt(2.0 / RANDOM_FEATURES) * np.cos(x @ frequencies + phases)


class Kernel:
    """K(x_i, x_j) products the greedy step needs, from the matrix itself or from an embedding with K = Z Z'."""

    def __init__(self, *, matrix: np.ndarray | None = None, embedding: np.ndarray | None = None):
        if (matrix is None) == (embedding is None):
            raise ValueError("give exactly one of matrix and embedding")
        self.matrix, self.embedding = matrix, embedding

    @classmethod
    def gaussian(cls, x: np.ndarray, bandwidth: float, rng: np.random.Generator) -> Kernel:
        """exp(-|x_i - x_j|^2 / bandwidth): exact below EXACT_KERNEL_MAX_CANDIDATES rows, else random Fourier
        features, so memory stays O(N d)."""
        if len(x) <= EXACT_KERNEL_MAX_CANDIDATES:
            return cls(matrix=np.exp(-squared_distances(x) / bandwidth))
        return cls(embedding=fourier_map(x.shape[1], bandwidth, rng)(x))

    def times(self, weights: np.ndarray) -> np.ndarray:
        """K @ weights, shape (N,)."""
        if self.matrix is not None:
            return self.matrix @ weights
        assert self.embedding is not None
        return self.embedding @ (self.embedding.T @ weights)

    def column(self, index: int) -> np.ndarray:
        """K[:, index], shape (N,)."""
        if self.matrix is not None:
            return self.matrix[:, index]
        assert self.embedding is not None
        return self.embedding @ self.embedding[index]

    def diagonal(self) -> np.ndarray:
        if self.matrix is not None:
            return np.diag(self.matrix).copy()
        assert self.embedding is not None
        return (self.embedding**2).sum(axis=1)


def herd(
    kernel: Kernel, weights: np.ndarray, budget: int, ids: Sequence[str], mass: np.ndarray | None = None
) -> list[int]:
    """Greedy kernel herding: up to ``budget`` candidates whose ``weights``-weighted kernel mean is closest to
    the ``mass``-weighted one.

    The kernel's first N rows are the candidates (N = len(weights)), any further rows target structures. Each step
    adds the candidate that most lowers MMD^2 between p = mass / sum(mass) and q = weights_S / sum(weights_S) over
    the picks (see the module docstring); ``mass`` defaults to ``weights`` (the pool is its own target).
    Candidates of weight 0 are never picked; exact ties go to the smallest id.
    """
    n = len(weights)
    mass = weights if mass is None else mass
    target = kernel.times(mass / mass.sum())[:n]  # (K p)_j
    diagonal = kernel.diagonal()[:n]
    chosen: list[int] = []
    total, pulled, spread = 0.0, 0.0, 0.0  # sum Q_S, sum_S Q_i (Kp)_i, sum_S sum_S Q_i Q_l K_il
    towards = np.zeros(n)  # sum_S Q_i K_ij
    for _ in range(min(budget, int((weights > 0).sum()))):
        grown = total + weights
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (
                -2.0 * (pulled + weights * target) / grown
                + (spread + 2.0 * weights * towards + weights**2 * diagonal) / grown**2
            )
        value[weights == 0] = np.inf
        value[chosen] = np.inf
        best = smallest_id_of_best(-value, ids)
        chosen.append(best)
        total += weights[best]
        pulled += weights[best] * target[best]
        spread += 2.0 * weights[best] * towards[best] + weights[best] ** 2 * diagonal[best]
        towards += weights[best] * kernel.column(best)[:n]
    return chosen


@dataclass(frozen=True)
class InformationHerding:
    """Greedy MMD herding towards the ``weight_score``-weighted pool, or ``pool.target`` when given, in feature
    space (see the module docstring).

    Attributes:
        weight_score: the score whose values are the information weights Q (>= 0), e.g. ``force_information``.
    """

    weight_score: str = "force_information"
    name: str = "herding"

    def select(self, pool: CandidatePool, *, budget: int, seed: int) -> list[Pick]:
        """Ordered picks; each one lowers the discrepancy between the weighted picks and the weighted pool (or
        target) most."""
        if self.weight_score not in pool.scores:
            raise KeyError(f"score {self.weight_score!r} not in the pool; available: {sorted(pool.scores)}")
        weights = np.clip(np.nan_to_num(np.asarray(pool.scores[self.weight_score], dtype=np.float64)), 0.0, None)
        if len(pool) == 0 or budget <= 0 or weights.sum() == 0:
            return []
        rng = np.random.default_rng(seed)
        rows, mass, served = np.asarray(pool.features, dtype=np.float64), None, "the weighted pool"
        if pool.target is not None:
            rows = np.vstack([rows, np.asarray(pool.target.features, dtype=np.float64)])
            mass = np.concatenate([np.zeros(len(pool)), np.asarray(pool.target.weights, dtype=np.float64)])
            served = f"the {len(pool.target.weights)} weighted target structures"
        x = standardised(np.nan_to_num(rows))
        kernel = Kernel.gaussian(x, median_squared_distance(x, rng), rng)
        picks: list[Pick] = []
        for best in herd(kernel, weights, budget, pool.ids, mass):
            share = 100.0 * weights[best] / weights.sum()
            reason = (
                f"makes the {self.weight_score}-weighted picks most like {served} in the model's feature "
                f"space ({self.weight_score} {weights[best]:.4g}, {share:.2g} % of the pool's)"
            )
            picks.append(Pick(len(picks) + 1, best, pool.ids[best], reason, pool.score_summary(best)))
        return picks
