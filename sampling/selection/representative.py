"""Representative herding: picks whose atomic environments, as the model sees them, are distributed like the pool's.

A ``heads`` fine-tune trains the last interaction block and the readout of the model on the features its frozen
part gives every atom, and its loss and the benchmark's error are averages over atoms. What a handful of
training structures must then do is stand for the pool's *distribution of atomic environments* in those
features, not for its extremes: the benchmark is drawn from the same distribution as the pool.

Each structure is the set of its atoms' features; its kernel mean embedding is the mean over its atoms of a
random Fourier feature map z of the Gaussian kernel on the standardised atom features (bandwidth: the median
squared distance between atoms), so <mu_i, mu_j> is the mean atom-pair kernel between structures i and j
(the "mean map" set kernel; Muandet et al. 2017). Kernel herding (Chen, Welling & Smola 2010) with uniform
weights then picks, one at a time, the structure that brings the mean embedding of the picks closest to
the pool's, which matches the pool at a rate O(1/k) where k random picks match it at O(1/sqrt(k)).
Uniform weights, because a random draw (the baseline) samples structures uniformly; the benchmark is a
draw of structures too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sampling.selection.base import CandidatePool, Pick
from sampling.selection.herding import Kernel, fourier_map, herd, median_squared_distance


def environment_embedding(atom_features: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Kernel mean embedding of every structure's atomic environments, shape (N, RANDOM_FEATURES).

    Args:
        atom_features: per structure, (nsites, d) features of its atoms (the same d for all).
        rng: draws the bandwidth sample and the Fourier frequencies (seeded by the caller).
    """
    atoms = np.concatenate([np.asarray(f, dtype=np.float64) for f in atom_features])
    atoms = np.nan_to_num(atoms)
    centre, spread = atoms.mean(axis=0), atoms.std(axis=0)
    spread[spread == 0] = 1.0
    bandwidth = median_squared_distance((atoms - centre) / spread, rng)
    feature_map = fourier_map(atoms.shape[1], bandwidth, rng)
    return np.stack([feature_map((np.nan_to_num(f) - centre) / spread).mean(axis=0) for f in atom_features])


@dataclass(frozen=True)
class RepresentativeHerding:
    """Uniform kernel herding of structures as sets of atomic environments (see the module docstring).

    Needs ``pool.atom_features`` (:attr:`curate.models.base.Description.atom_features`).
    """

    name: str = "representative"

    def select(self, pool: CandidatePool, *, budget: int, seed: int) -> list[Pick]:
        """Ordered picks; each brings the picks' distribution of environments closest to the pool's."""
        if not pool.atom_features:
            raise KeyError("representative herding needs the model's per-atom features (pool.atom_features)")
        if len(pool) == 0 or budget <= 0:
            return []
        embedding = environment_embedding(pool.atom_features, np.random.default_rng(seed))
        weights = np.ones(len(pool))
        picks: list[Pick] = []
        centre = embedding.mean(axis=0)
        for best in herd(Kernel(embedding=embedding), weights, budget, pool.ids):
            typical = float(np.linalg.norm(embedding[best] - centre))
            reason = (
                f"makes the picks' atomic environments (the model's own atom features) most like the pool's "
                f"({len(pool.atom_features[best])} atoms; distance of its environments to the pool's mean "
                f"{typical:.3g})"
            )
            picks.append(Pick(len(picks) + 1, best, pool.ids[best], reason, pool.score_summary(best)))
        return picks
