"""Gradient matching on pools whose matching pick is known."""

from __future__ import annotations

import numpy as np
import pytest

from sampling.selection import make_selector
from sampling.selection.base import CandidatePool


def _pool(gradients: np.ndarray) -> CandidatePool:
    n = len(gradients)
    return CandidatePool(ids=[f"g{k:02d}" for k in range(n)], features=np.zeros((n, 1)), loss_gradients=gradients)


def test_the_candidate_along_the_pool_mean_direction_is_picked_first() -> None:
    rng = np.random.default_rng(0)
    others = rng.normal(0.0, 1.0, (9, 16))
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    along_mean = others.mean(axis=0)  # the pool's mean of unit gradients points along this, with it or without
    pool = _pool(np.vstack([others * rng.uniform(0.5, 3.0, (9, 1)), 0.01 * along_mean]))
    picks = make_selector("gradient").select(pool, budget=1, seed=0)
    assert picks[0].candidate_id == "g09"
    assert "(cosine 1.000 between the two)" in picks[0].reason


def test_only_the_direction_of_a_gradient_counts() -> None:
    rng = np.random.default_rng(1)
    gradients = rng.normal(0.0, 1.0, (30, 8))
    picks = [p.index for p in make_selector("gradient").select(_pool(gradients), budget=6, seed=0)]
    rescaled = gradients * rng.uniform(0.01, 100.0, (30, 1))
    assert [p.index for p in make_selector("gradient").select(_pool(rescaled), budget=6, seed=0)] == picks


def test_picks_need_loss_gradients() -> None:
    with pytest.raises(KeyError, match="loss gradients"):
        make_selector("gradient").select(CandidatePool(ids=["a"], features=np.zeros((1, 1))), budget=1, seed=0)
