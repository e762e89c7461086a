"""Representative herding of atomic environments, on pools whose representative pick is known."""

from __future__ import annotations

import numpy as np
import pytest

from sampling.selection import make_selector
from sampling.selection.base import CandidatePool
from sampling.selection.representative import RepresentativeHerding, environment_embedding

ENVIRONMENT_A = np.array([1.0, 0.0, 0.0, 0.5])
ENVIRONMENT_B = np.array([-1.0, 2.0, 0.5, 0.0])


def _structure(a: int, b: int, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Atom features of a structure with ``a`` atoms in environment A and ``b`` in B (plus a little noise)."""
    atoms = np.concatenate([np.tile(ENVIRONMENT_A, (a, 1)), np.tile(ENVIRONMENT_B, (b, 1))])
    return atoms + rng.normal(0.0, jitter, atoms.shape)


def _mixed_pool(jitter: float = 0.0) -> CandidatePool:
    """Three all-A structures, one all-B, and one with A and B atoms in the pool's 3:1 proportion of structures.

    With uniform structure weights the pool's mean embedding is (3 mu_A + mu_B + (3 mu_A + mu_B) / 4) / 5 =
    (3 mu_A + mu_B) / 4: exactly the mixed structure's own, so it is the one structure that stands for the pool.
    """
    rng = np.random.default_rng(7)
    atoms = [_structure(8, 0, jitter, rng) for _ in range(3)] + [_structure(0, 8, jitter, rng)]
    atoms.append(_structure(6, 2, jitter, rng))
    ids = ["a1", "a2", "a3", "b1", "mix"]
    return CandidatePool(ids=ids, features=np.array([f.mean(axis=0) for f in atoms]), atom_features=atoms)


def test_the_structure_whose_environments_mirror_the_pool_is_picked_first() -> None:
    for jitter in (0.0, 0.01):
        pool = _mixed_pool(jitter)
        first = RepresentativeHerding().select(pool, budget=1, seed=0)[0]
        assert first.candidate_id == "mix"


def test_the_pool_mean_embedding_is_matched_exactly_by_the_mixed_structure() -> None:
    pool = _mixed_pool()
    embedding = environment_embedding(pool.atom_features, np.random.default_rng(0))
    assert embedding.shape == (5, 2048)
    assert np.allclose(embedding.mean(axis=0), embedding[4], atol=1e-12)
    # an all-A structure embeds as one A atom: the mean over identical atoms
    assert np.allclose(embedding[0], embedding[1], atol=1e-12)


def test_picks_do_not_depend_on_pool_order_and_cover_both_environments() -> None:
    pool = _mixed_pool(0.01)
    order = [3, 0, 4, 2, 1]
    shuffled = CandidatePool(
        ids=[pool.ids[i] for i in order],
        features=pool.features[order],
        atom_features=[pool.atom_features[i] for i in order],
    )
    selector = make_selector("representative")
    picks = [p.candidate_id for p in selector.select(pool, budget=4, seed=3)]
    again = [p.candidate_id for p in selector.select(shuffled, budget=4, seed=3)]
    assert picks == again
    assert picks[0] == "mix" and "b1" in picks, "after the mixed structure the B share still needs a B structure"


def test_a_pool_without_atom_features_is_refused_by_name() -> None:
    pool = CandidatePool(ids=["x"], features=np.zeros((1, 2)))
    with pytest.raises(KeyError, match="per-atom features"):
        RepresentativeHerding().select(pool, budget=1, seed=0)
