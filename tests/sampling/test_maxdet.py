"""Max-det on gradient features whose posterior variances are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from sampling.selection import make_selector
from sampling.selection.base import CandidatePool
from sampling.selection.maxdet import RELATIVE_NOISE, max_det_order


def _pool(gradients: np.ndarray) -> CandidatePool:
    n = len(gradients)
    return CandidatePool(ids=[f"g{k:02d}" for k in range(n)], features=np.zeros((n, 1)), loss_gradients=gradients)


def _posterior_variance(gradients: np.ndarray, chosen: list[int], row: int) -> float:
    """g' g - k' (K + lambda I)^-1 k, written out with numpy's solver."""
    noise = RELATIVE_NOISE * float((gradients**2).sum(axis=1).mean())
    if not chosen:
        return float(gradients[row] @ gradients[row])
    labelled = gradients[chosen]
    kernel = labelled @ labelled.T + noise * np.eye(len(chosen))
    cross = labelled @ gradients[row]
    return float(gradients[row] @ gradients[row] - cross @ np.linalg.solve(kernel, cross))


def test_every_pick_has_the_largest_posterior_variance_given_the_picks_before_it() -> None:
    rng = np.random.default_rng(0)
    gradients = rng.normal(0.0, 1.0, (40, 12)) * rng.uniform(0.1, 5.0, (40, 1))
    order = max_det_order(gradients, 15, [f"g{k:02d}" for k in range(40)])
    chosen: list[int] = []
    for row, share in order:
        variances = {i: _posterior_variance(gradients, chosen, i) for i in range(40) if i not in chosen}
        assert row == max(variances, key=lambda i: variances[i])
        assert share == pytest.approx(variances[row] / float(gradients[row] @ gradients[row]), rel=1e-6, abs=1e-9)
        chosen.append(row)
    assert order[0][1] == 1.0  # nothing constrains the first pick
    assert order[12][1] < 1e-4  # twelve picks span R^12: the thirteenth is all but determined


def test_orthogonal_candidates_come_largest_first_and_a_copy_only_after_every_new_direction() -> None:
    """Orthogonal rows do not constrain each other, so they go by length; a copy of the first pick, longer than
    the rest, has nothing left to say once the first is labelled."""
    lengths = np.array([1.0, 4.0, 2.0, 3.0])
    gradients = np.vstack([np.diag(lengths), 3.9 * np.eye(4)[1]])  # row 4: (almost) row 1 again
    picks = [p.index for p in make_selector("maxdet").select(_pool(gradients), budget=5, seed=0)]
    assert picks == [1, 3, 2, 0, 4]


def test_maxdet_needs_loss_gradients() -> None:
    with pytest.raises(KeyError, match="loss gradients"):
        make_selector("maxdet").select(CandidatePool(ids=["a"], features=np.zeros((1, 1))), budget=1, seed=0)
