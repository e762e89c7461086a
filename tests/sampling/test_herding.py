"""Information-weighted herding on pools whose representative pick is known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sampling.selection import make_selector
from sampling.selection.base import CandidatePool, Target
from sampling.selection.herding import InformationHerding


def _two_regimes(seed: int = 0) -> CandidatePool:
    """40 typical candidates around the origin (information 1) and one outlier far away (information 5)."""
    rng = np.random.default_rng(seed)
    typical = rng.normal(0.0, 1.0, (40, 6))
    outlier = np.full((1, 6), 12.0)
    features = np.concatenate([typical, outlier])
    information = np.concatenate([np.ones(40), [5.0]])
    return CandidatePool(
        ids=[f"c{k:02d}" for k in range(41)], features=features, scores={"force_information": information}
    )


def test_the_first_pick_is_the_weighted_centre_not_the_most_informative_outlier() -> None:
    pool = _two_regimes()
    first = InformationHerding().select(pool, budget=1, seed=0)[0]
    assert first.index != 40
    centre = pool.features[:40].mean(axis=0)
    distances = np.linalg.norm(pool.features[:40] - centre, axis=1)
    assert distances[first.index] <= np.percentile(distances, 25), "the pick sits near the centre of the typical mass"


def test_the_outlier_is_picked_once_the_budget_lets_its_share_be_represented() -> None:
    pool = _two_regimes()
    few = InformationHerding().select(pool, budget=5, seed=0)
    assert 40 not in [p.index for p in few], "with 5 picks the outlier would weigh 5/9 of the picks for 1/9 of the pool"
    many = InformationHerding().select(pool, budget=30, seed=0)
    assert 40 in [p.index for p in many], "with 30 picks its weight 5/34 is close to its 5/45 share of the pool"
    assert len({p.index for p in many}) == 30


def test_candidates_without_information_are_never_picked() -> None:
    rng = np.random.default_rng(1)
    information = np.where(np.arange(30) % 3 == 0, 0.0, rng.uniform(0.5, 2.0, 30))
    pool = CandidatePool(
        ids=[f"z{k:02d}" for k in range(30)],
        features=rng.normal(size=(30, 4)),
        scores={"force_information": information},
    )
    picks = InformationHerding().select(pool, budget=30, seed=0)
    assert len(picks) == 20
    assert all(information[p.index] > 0 for p in picks)


def test_random_features_agree_with_the_exact_kernel_on_a_large_pool() -> None:
    """Above the exact-kernel size the herding runs on seeded random Fourier features: same first picks' region."""
    from sampling.selection import herding

    rng = np.random.default_rng(2)
    features = np.concatenate([rng.normal(0, 1, (3000, 5)), rng.normal(8, 1, (1500, 5))])
    information = np.ones(4500)
    pool = CandidatePool(
        ids=[f"r{k:05d}" for k in range(4500)], features=features, scores={"force_information": information}
    )
    picks = InformationHerding().select(pool, budget=3, seed=0)
    assert herding.EXACT_KERNEL_MAX_CANDIDATES < 4500
    in_large_cluster = sum(p.index < 3000 for p in picks)
    assert in_large_cluster == 2, "two of three picks stand for the cluster holding two thirds of the pool"
    again = InformationHerding().select(pool, budget=3, seed=0)
    assert [p.candidate_id for p in again] == [p.candidate_id for p in picks]


def _line_pool() -> CandidatePool:
    """49 candidates evenly along x in [-6, 6] (a second feature constant), equal information; a candidate's own
    scale is known to be 1 + 0.1 x."""
    x = np.linspace(-6.0, 6.0, 49)
    return CandidatePool(
        ids=[f"l{k:02d}" for k in range(49)],
        features=np.column_stack([x, np.zeros(49)]),
        scores={"force_information": np.ones(49)},
    )


def test_with_a_target_the_fitted_scale_is_the_targets_not_the_pools() -> None:
    """The correction is to serve structures at x in [4, 6], whose scales average 1.5; the pool's average 1.0.

    The scale fitted on the picks is their information-weighted mean scale: herding towards the pool gives ~1.0,
    towards the target ~1.5.
    """
    pool = _line_pool()
    own_scale = 1.0 + 0.1 * pool.features[:, 0]
    served = Target(features=np.column_stack([np.linspace(4.0, 6.0, 9), np.zeros(9)]), weights=np.ones(9))
    for budget in (1, 3):
        for target, expected in ((None, 1.0), (served, 1.5)):
            picks = InformationHerding().select(replace(pool, target=target), budget=budget, seed=0)
            fitted = float(np.mean(own_scale[[p.index for p in picks]]))
            assert fitted == pytest.approx(expected, abs=0.05), (budget, target is None)
    reason = InformationHerding().select(replace(pool, target=served), budget=1, seed=0)[0].reason
    assert "the 9 weighted target structures" in reason


def test_the_targets_weights_count() -> None:
    """Two target groups, at x = -5 (weight 1) and x = +5 (weight 9): one pick serves the heavier group's side, and
    the lighter side once the weights are swapped."""
    pool = _line_pool()
    features = np.column_stack([np.r_[np.full(5, -5.0), np.full(5, 5.0)], np.zeros(10)])
    heavy_right = np.r_[np.full(5, 1.0), np.full(5, 9.0)]
    selector = make_selector("herding", score="force_information")
    for weights, side in ((heavy_right, 1.0), (heavy_right[::-1], -1.0)):
        first = selector.select(replace(pool, target=Target(features, weights)), budget=1, seed=0)[0]
        assert np.sign(pool.features[first.index, 0]) == side


def test_the_target_is_put_in_one_row_order_before_selection() -> None:
    """Whatever order the target's rows arrive in, the selector sees them in one order (so float sums, and the
    picks, cannot depend on it)."""
    rng = np.random.default_rng(4)
    target = Target(rng.normal(size=(30, 3)), rng.uniform(0.1, 2.0, 30))
    order = rng.permutation(30)
    shuffled = Target(target.features[order], target.weights[order])
    assert not np.array_equal(shuffled.features, target.features)
    np.testing.assert_array_equal(shuffled.canonical().features, target.canonical().features)
    np.testing.assert_array_equal(shuffled.canonical().weights, target.canonical().weights)
    pool = replace(_line_pool(), features=rng.normal(size=(49, 3)), target=shuffled)
    ordered, _ = pool.in_id_order()
    assert ordered.target is not None
    np.testing.assert_array_equal(ordered.target.features, target.canonical().features)


def test_a_large_pool_is_herded_towards_its_target_on_random_features() -> None:
    """Above the exact-kernel size (candidates and target together), random Fourier features: the picks come from
    the cluster the target sits in, not from the cluster holding most of the pool."""
    from sampling.selection import herding

    rng = np.random.default_rng(6)
    features = np.concatenate([rng.normal(0, 1, (3500, 4)), rng.normal(8, 1, (500, 4))])
    pool = CandidatePool(
        ids=[f"f{k:05d}" for k in range(4000)], features=features, scores={"force_information": np.ones(4000)}
    )
    target = Target(rng.normal(8, 1, (300, 4)), np.ones(300))
    assert len(features) + 300 > herding.EXACT_KERNEL_MAX_CANDIDATES
    served = InformationHerding().select(replace(pool, target=target), budget=3, seed=0)
    assert all(p.index >= 3500 for p in served)
    assert sum(p.index >= 3500 for p in InformationHerding().select(pool, budget=3, seed=0)) <= 1


def test_a_target_in_another_feature_space_or_without_weight_is_refused() -> None:
    pool = _line_pool()
    with pytest.raises(ValueError, match="target features have 3 columns, the candidates' 2"):
        replace(pool, target=Target(np.zeros((2, 3)), np.ones(2)))
    with pytest.raises(ValueError, match="not all 0"):
        Target(np.zeros((2, 2)), np.zeros(2))


def test_a_target_without_information_is_refused_by_name_and_nan_counts_as_zero() -> None:
    from curate.errors import ConfigurationError
    from sampling.sample import target_of

    with pytest.raises(ConfigurationError, match=r"frames\.db: no structure has any force information to serve"):
        target_of(np.zeros((2, 2)), np.array([0.0, np.nan]), what="frames.db")
    assert target_of(np.zeros((2, 2)), np.array([np.nan, 2.0]), what="frames.db").weights.tolist() == [0.0, 2.0]
