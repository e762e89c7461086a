"""Gaussian and Monte-Carlo rattles on a real Si cell: the requested spread, distinct seeds, the minimum distance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.checks.quality import min_distance_violation
from curate.dataset.configuration import Configuration, Rejected
from sampling.generators import SeedStream, make_generator
from sampling.generators.base import make_supercell, shortest_distance
from sampling.generators.rattle import gaussian_displacements


@pytest.fixture(scope="module")
def si_64(si_cubic: tuple[Configuration, str]) -> tuple[Configuration, str]:
    """The real 8-atom Si cell repeated 2x2x2 (64 atoms), keeping the parent row's id."""
    parent, row_id = si_cubic
    return make_supercell(parent, (2, 2, 2)), row_id


def _configs(items: list[Configuration | Rejected]) -> list[Configuration]:
    assert not any(isinstance(i, Rejected) for i in items)
    return [i for i in items if isinstance(i, Configuration)]


def test_gaussian_rattle_has_requested_standard_deviation(si_64: tuple[Configuration, str]) -> None:
    parent, row_id = si_64
    before = parent.positions.copy()
    rows = _configs(
        list(
            make_generator("gaussian-rattle", {"std_ang": [0.03, 0.1], "n_structures": 4}).generate(
                parent, parent_id=row_id, seeds=SeedStream(11)
            )
        )
    )
    assert len(rows) == 8
    np.testing.assert_array_equal(parent.positions, before)  # the parent is not modified
    for row in rows:
        sigma = json.loads(row.generator_params)["std_ang"]
        u = (row.positions - parent.positions).ravel()
        n = u.size  # 192 components
        # sample std of n normal draws has standard error sigma / sqrt(2 n), the mean sigma / sqrt(n); 4 standard
        # errors per structure (8 structures: a 3-sigma bound would fail by chance ~2 % of seeds), 3 pooled below
        assert abs(u.std() - sigma) < 4 * sigma / np.sqrt(2 * n)
        assert abs(u.mean()) < 4 * sigma / np.sqrt(n)
        np.testing.assert_array_equal(row.lattice, parent.lattice)
        assert row.energy is None and row.forces is None and row.stress is None and row.functional is None
        assert row.parent_id == row_id and row.generator == "gaussian-rattle"
    for sigma in (0.03, 0.1):  # pooled over the 4 structures of one sigma: 768 components
        pooled = np.concatenate(
            [
                (r.positions - parent.positions).ravel()
                for r in rows
                if json.loads(r.generator_params)["std_ang"] == sigma
            ]
        )
        assert abs(pooled.std() - sigma) < 3 * sigma / np.sqrt(2 * pooled.size)


def test_gaussian_rattle_seeds_are_distinct_and_reproducible(si_64: tuple[Configuration, str]) -> None:
    parent, row_id = si_64
    generator = make_generator("gaussian-rattle", {"std_ang": 0.05, "n_structures": 20})
    first = _configs(list(generator.generate(parent, parent_id=row_id, seeds=SeedStream(3))))
    again = _configs(list(generator.generate(parent, parent_id=row_id, seeds=SeedStream(3))))
    seeds = [r.seed for r in first]
    assert len(set(seeds)) == 20 and all(isinstance(s, int) and 0 <= s < 2**63 for s in seeds)
    displacements = [r.positions - parent.positions for r in first]
    for i in range(20):
        for j in range(i):
            assert not np.allclose(displacements[i], displacements[j])
    for a, b in zip(first, again, strict=True):  # same run seed: the same structures, bit for bit
        assert a.seed == b.seed
        np.testing.assert_array_equal(a.positions, b.positions)
    # provenance is enough to rebuild a row: parent + std_ang + seed
    row = first[7]
    rebuilt = parent.positions + gaussian_displacements(parent.nsites, std_ang=0.05, seed=row.seed)
    np.testing.assert_array_equal(rebuilt, row.positions)
    other = _configs(list(generator.generate(parent, parent_id=row_id, seeds=SeedStream(4))))
    assert not set(seeds) & {r.seed for r in other}


def test_seed_stream_never_repeats() -> None:
    stream = SeedStream(0)
    drawn = [stream.next() for _ in range(5000)]
    assert len(set(drawn)) == 5000
    assert drawn[:3] == [SeedStream(0).next(), *[s for s in drawn[1:3]]]


def test_shortest_distance_of_diamond_is_the_bond_length(si_cubic: tuple[Configuration, str]) -> None:
    parent, _ = si_cubic
    a = float(parent.lattice[0, 0])
    assert shortest_distance(parent) == pytest.approx(np.sqrt(3) / 4 * a, abs=1e-5)


def test_mc_rattle_respects_minimum_distance(si_64: tuple[Configuration, str]) -> None:
    parent, row_id = si_64
    d_min = 2.15  # A; the Si-Si bond is 2.368 A
    rows = _configs(
        list(
            make_generator("mc-rattle", {"std_ang": 0.08, "d_min_ang": d_min, "n_structures": 4}).generate(
                parent, parent_id=row_id, seeds=SeedStream(5)
            )
        )
    )
    assert len(rows) == 4 and len({r.seed for r in rows}) == 4
    rms = []
    for row in rows:
        assert shortest_distance(row) >= d_min
        assert min_distance_violation(row) is None
        assert json.loads(row.generator_params)["d_min_ang"] == d_min
        rms.append(float(np.sqrt(((row.positions - parent.positions) ** 2).mean())))
    assert min(rms) > 0.05  # the atoms did move: 10 sweeps of 0.08 A trial moves
    # a Gaussian rattle of the same rms amplitude breaks the 2.15 A floor: the constraint is doing the work
    sigma = float(np.mean(rms))
    gaussian = _configs(
        list(
            make_generator("gaussian-rattle", {"std_ang": sigma, "n_structures": 4}).generate(
                parent, parent_id=row_id, seeds=SeedStream(5)
            )
        )
    )
    assert all(shortest_distance(g) < d_min for g in gaussian)


def test_mc_rattle_default_minimum_is_a_fraction_of_the_parent_bond(si_64: tuple[Configuration, str]) -> None:
    parent, row_id = si_64
    (row,) = _configs(
        list(make_generator("mc-rattle", {"std_ang": 0.05}).generate(parent, parent_id=row_id, seeds=SeedStream(1)))
    )
    d_min = json.loads(row.generator_params)["d_min_ang"]
    assert d_min == pytest.approx(0.85 * shortest_distance(parent), abs=1e-6)
    assert shortest_distance(row) >= d_min


def test_mc_rattle_refuses_a_parent_already_below_minimum(si_cubic: tuple[Configuration, str]) -> None:
    parent, row_id = si_cubic
    (item,) = list(
        make_generator("mc-rattle", {"std_ang": 0.05, "d_min_ang": 3.0}).generate(
            parent, parent_id=row_id, seeds=SeedStream(1)
        )
    )
    assert isinstance(item, Rejected)
    assert "below d_min 3.000" in item.reason and row_id in item.record
