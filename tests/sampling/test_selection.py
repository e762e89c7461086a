"""Selection on constructed committees and pools whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from sampling.selection import STRATEGIES, CandidatePool, make_selector

from .builders import committee_scores


def _pool_with_planted_disagreement(seed: int = 0) -> tuple[CandidatePool, int, int]:
    """20 candidates, 3 members agreeing to 1e-3 eV/A except on candidate 7 (and its near-copy 8)."""
    rng = np.random.default_rng(seed)
    nsites = [8] * 20
    truth = [rng.normal(0, 1.0, (8, 3)) for _ in nsites]
    forces = [[f + rng.normal(0, 1e-3, f.shape) for f in truth] for _ in range(3)]
    forces[0][7] = truth[7] + 0.5  # one member off by 0.5 eV/A on every component
    forces[0][8] = truth[8] + 0.45
    energies = rng.normal(-40, 0.001, (3, 20))
    scores = committee_scores(forces, energies, nsites)
    features = rng.normal(0, 1.0, (20, 4))
    features[8] = features[7] + 0.01  # candidate 8 is a near-duplicate of 7 in descriptor space
    atom_features = [rng.normal(0, 1.0, (n, 4)) for n in nsites]
    loss_gradients = rng.normal(0, 1.0, (20, 6))
    pool = CandidatePool(
        ids=[f"c{k:02d}" for k in range(20)],
        features=features,
        scores=scores,
        atom_features=atom_features,
        loss_gradients=loss_gradients,
    )
    return pool, 7, 8


def test_planted_disagreement_is_picked_first_and_its_duplicate_skipped() -> None:
    pool, planted, duplicate = _pool_with_planted_disagreement()
    expected_sigma = np.sqrt(3 * 0.5**2 * (2 / 3) ** 2 / 3 + 2 * 3 * 0.5**2 * (1 / 3) ** 2 / 3)
    assert pool.scores["force_std_max"][planted] == pytest.approx(expected_sigma, rel=0.02)
    unguarded = make_selector("greedy").select(pool, budget=2, seed=0)
    assert [p.index for p in unguarded] == [planted, duplicate]
    guarded = make_selector("greedy", min_distance=0.5).select(pool, budget=2, seed=0)
    assert guarded[0].index == planted
    assert guarded[1].index != duplicate
    assert "near-duplicate" in guarded[1].reason
    assert guarded[0].scores["force_std_max"] == pytest.approx(pool.scores["force_std_max"][planted])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_is_deterministic_distinct_and_explained(strategy: str) -> None:
    pool, _, _ = _pool_with_planted_disagreement(seed=3)
    first = make_selector(strategy).select(pool, budget=5, seed=11)
    again = make_selector(strategy).select(pool, budget=5, seed=11)
    assert [p.candidate_id for p in first] == [p.candidate_id for p in again]
    assert len({p.candidate_id for p in first}) == 5
    assert [p.rank for p in first] == [1, 2, 3, 4, 5]
    assert all(p.reason for p in first)
    for permutation_seed in range(12):
        shuffled_order = np.random.default_rng(permutation_seed).permutation(len(pool))
        shuffled = CandidatePool(
            ids=[pool.ids[i] for i in shuffled_order],
            features=pool.features[shuffled_order],
            scores={k: v[shuffled_order] for k, v in pool.scores.items()},
            atom_features=[pool.atom_features[i] for i in shuffled_order],
            loss_gradients=None if pool.loss_gradients is None else pool.loss_gradients[shuffled_order],
        )
        picks = make_selector(strategy).select(shuffled, budget=5, seed=11)
        assert [p.candidate_id for p in picks] == [p.candidate_id for p in first], "input order changed the picks"
        assert all(shuffled.ids[p.index] == p.candidate_id for p in picks), "pick index must point into the pool"


def test_fps_spreads_over_separated_clusters() -> None:
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    rng = np.random.default_rng(0)
    features = np.concatenate([c + rng.normal(0, 0.1, (10, 2)) for c in centres])
    pool = CandidatePool(ids=[f"x{k:02d}" for k in range(40)], features=features)
    picks = make_selector("fps").select(pool, budget=4, seed=1)
    assert sorted({p.index // 10 for p in picks}) == [0, 1, 2, 3], "one pick per cluster"


def test_direct_takes_one_per_cluster() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 20.0, (5, 6))
    features = np.concatenate([c + rng.normal(0, 0.2, (30, 6)) for c in centres])
    pool = CandidatePool(ids=[f"y{k:03d}" for k in range(150)], features=features)
    picks = make_selector("direct").select(pool, budget=5, seed=0)
    assert sorted(p.index // 30 for p in picks) == [0, 1, 2, 3, 4]


def test_random_baseline_depends_on_the_seed_only() -> None:
    pool, _, _ = _pool_with_planted_disagreement()
    a = make_selector("random").select(pool, budget=5, seed=1)
    b = make_selector("random").select(pool, budget=5, seed=2)
    assert [p.candidate_id for p in a] != [p.candidate_id for p in b]
