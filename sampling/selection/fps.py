"""Farthest-point sampling: each pick is the candidate farthest (in descriptor space) from all earlier picks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sampling.selection.base import CandidatePool, Pick, smallest_id_of_best


@dataclass(frozen=True)
class FarthestPoint:
    """Start from the highest ``score`` (or a seeded random candidate without scores), then maximise spread."""

    score: str | None = "force_std_max"
    name: str = "fps"

    def select(self, pool: CandidatePool, *, budget: int, seed: int) -> list[Pick]:
        """Ordered picks; distances are Euclidean in the pool's feature space."""
        if len(pool) == 0:
            return []
        if self.score and self.score in pool.scores:
            values = np.asarray(pool.scores[self.score], dtype=np.float64)
            first = min(range(len(pool)), key=lambda i: (-values[i], pool.ids[i]))
            first_reason = f"highest {self.score} ({values[first]:.4g}) starts the spread"
        else:
            first = int(np.random.default_rng(seed).integers(len(pool)))
            first_reason = f"random start (seed {seed})"
        picks = [Pick(1, first, pool.ids[first], first_reason, pool.score_summary(first))]
        # running distance to the nearest pick: one O(N d) update per pick instead of recomputing all pairs
        distance = np.linalg.norm(pool.features - pool.features[first], axis=1)
        distance[first] = -np.inf
        while len(picks) < min(budget, len(pool)):
            best = smallest_id_of_best(distance, pool.ids)
            reason = f"farthest from the {len(picks)} earlier pick(s): distance {distance[best]:.4g}"
            picks.append(Pick(len(picks) + 1, best, pool.ids[best], reason, pool.score_summary(best)))
            distance = np.minimum(distance, np.linalg.norm(pool.features - pool.features[best], axis=1))
            distance[[p.index for p in picks]] = -np.inf
        return picks
