"""Greedy uncertainty with a diversity guard: the most uncertain candidate that is not too close to a pick."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sampling.selection.base import CandidatePool, Pick


@dataclass(frozen=True)
class GreedyUncertainty:
    """Take candidates in decreasing ``score``; skip any closer than ``min_distance`` to an earlier pick.

    Attributes:
        score: name of the score to rank by (e.g. ``force_std_max`` in eV/A).
        min_distance: the diversity guard, in descriptor units; 0 disables it.
    """

    score: str = "force_std_max"
    min_distance: float = 0.0
    name: str = "greedy"

    def select(self, pool: CandidatePool, *, budget: int, seed: int) -> list[Pick]:
        """Ordered picks; ties in the score are broken by id so the order never depends on input order."""
        if self.score not in pool.scores:
            raise KeyError(f"score {self.score!r} not in the pool; available: {sorted(pool.scores)}")
        values = np.asarray(pool.scores[self.score], dtype=np.float64)
        order = sorted(range(len(pool)), key=lambda i: (-values[i], pool.ids[i]))
        picks: list[Pick] = []
        skipped: dict[int, tuple[int, float]] = {}
        for index in order:
            if len(picks) >= budget:
                break
            if picks and self.min_distance > 0:
                distances = np.linalg.norm(pool.features[[p.index for p in picks]] - pool.features[index], axis=1)
                nearest = int(np.argmin(distances))
                if distances[nearest] < self.min_distance:
                    skipped[index] = (picks[nearest].rank, float(distances[nearest]))
                    continue
            reason = f"highest {self.score} among the remaining candidates ({values[index]:.4g})"
            if picks and self.min_distance > 0:
                reason += (
                    f"; {float(distances[nearest]):.3g} from pick {picks[nearest].rank} (guard {self.min_distance:g})"
                )
            passed_over = [i for i, (rank, _) in skipped.items() if values[i] >= values[index]]
            if passed_over:
                reason += (
                    f"; {len(passed_over)} higher-scoring candidate(s) skipped as near-duplicates of earlier picks"
                )
            picks.append(Pick(len(picks) + 1, index, pool.ids[index], reason, pool.score_summary(index)))
        return picks
