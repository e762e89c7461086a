"""Gradient matching on pools whose matching pick is known."""

from __future__ import annotations

import numpy as np
import pytest

from sampling.selection import make_selector
from sampling.selection.base import CandidatePool


def _pool(gradients: np.ndarray) -> CandidatePool:
    n = len(gradients)
    return CandidatePool(ids=[f"g{k:02d}" for k in range(n)], features=np.zeros((n, 1)), loss_gradients=gradients)


def test_the_candidate_whose_gradient_is_the_pool_mean_is_picked_first() -> None:
    rng = np.random.default_rng(0)
    others = rng.normal(0.0, 1.0, (9, 16))
    mean_of_all = others.sum(axis=0) / 9  # the tenth candidate equals the mean of the first nine ...
    pool = _pool(np.vstack([others, mean_of_all]))  # ... so it is also the mean of all ten
    picks = make_selector("gradient").select(pool, budget=1, seed=0)
    assert picks[0].candidate_id == "g09"
    assert "cosine with the pool's mean gradient 1.000" in picks[0].reason


def test_a_large_gradient_is_not_picked_for_its_size_alone() -> None:
    """Two directions in the pool 9:1; one candidate has a 50x larger gradient along the rare one."""
    common, rare = np.eye(4)[0], np.eye(4)[1]
    gradients = np.vstack([np.tile(common, (9, 1)), 50.0 * rare, rare])
    pool = _pool(gradients + np.random.default_rng(1).normal(0.0, 1e-3, gradients.shape))
    picks = [p.index for p in make_selector("gradient").select(pool, budget=3, seed=0)]
    # the pool's mean is 0.82 common + 4.6 rare: the 50x candidate alone would overshoot it tenfold
    assert 9 not in picks, "the mean gradient is matched without the 50x outlier"
    assert 10 in picks and any(i < 9 for i in picks), "both directions of the pool are represented"


def test_picks_need_loss_gradients() -> None:
    with pytest.raises(KeyError, match="loss gradients"):
        make_selector("gradient").select(CandidatePool(ids=["a"], features=np.zeros((1, 1))), budget=1, seed=0)
