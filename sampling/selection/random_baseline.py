"""The seeded random baseline every other strategy must beat."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sampling.selection.base import CandidatePool, Pick


@dataclass(frozen=True)
class RandomBaseline:
    """Uniform random choice without replacement, from ``numpy.random.default_rng(seed)``."""

    name: str = "random"

    def select(self, pool: CandidatePool, *, budget: int, seed: int) -> list[Pick]:
        """Ordered picks; candidates are sorted by id first so the result does not depend on input order."""
        order = sorted(range(len(pool)), key=lambda i: pool.ids[i])
        chosen = np.random.default_rng(seed).permutation(len(order))[: min(budget, len(order))]
        return [
            Pick(
                rank,
                order[int(k)],
                pool.ids[order[int(k)]],
                f"random draw (seed {seed})",
                pool.score_summary(order[int(k)]),
            )
            for rank, k in enumerate(chosen, start=1)
        ]
