"""Point defects and slabs: exact counts, compositions, the tetrahedral interstitial of Si, vacuum >= 10 A."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from ase.build import bulk

from curate.checks.quality import min_distance_violation
from curate.dataset.configuration import Configuration
from sampling.generators import SeedStream, make_generator
from sampling.generators.base import shortest_distance
from sampling.generators.surfaces import ensure_vacuum, vacuum_thickness


def _rows(name: str, params: dict, parent: Configuration, row_id: str) -> list[Configuration]:
    items = list(make_generator(name, params).generate(parent, parent_id=row_id, seeds=SeedStream(0)))
    assert all(isinstance(i, Configuration) for i in items)
    return [i for i in items if isinstance(i, Configuration)]


@pytest.fixture(scope="module")
def rocksalt() -> Configuration:
    """NaCl in its 2-atom primitive cell (a = 5.64 A), built by ASE."""
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    return Configuration(
        species=atoms.get_chemical_symbols(), lattice=np.array(atoms.cell[:]), positions=atoms.positions
    )


def test_vacancies_one_per_inequivalent_site(si_cubic: tuple[Configuration, str], rocksalt: Configuration) -> None:
    parent, row_id = si_cubic
    (si_vacancy,) = _rows("vacancy", {"min_atoms": 64}, parent, row_id)  # diamond: one site class
    assert si_vacancy.nsites == 63 and json.loads(si_vacancy.generator_params)["supercell"] == [2, 2, 2]
    assert si_vacancy.parent_id == row_id and si_vacancy.seed is None and si_vacancy.functional is None
    rows = _rows("vacancy", {"min_atoms": 32}, rocksalt, "nacl")
    supercell = json.loads(rows[0].generator_params)["supercell"]
    n = 2 * int(np.prod(supercell))
    assert n >= 32
    compositions = sorted(tuple(sorted(Counter(r.species).items())) for r in rows)
    assert compositions == [(("Cl", n // 2 - 1), ("Na", n // 2)), (("Cl", n // 2), ("Na", n // 2 - 1))]


def test_antisites_swap_one_site(rocksalt: Configuration, si_cubic: tuple[Configuration, str]) -> None:
    rows = _rows("antisite", {"min_atoms": 32}, rocksalt, "nacl")
    assert len(rows) == 2
    n = rows[0].nsites
    compositions = {tuple(sorted(Counter(r.species).items())) for r in rows}
    assert compositions == {(("Cl", n // 2 + 1), ("Na", n // 2 - 1)), (("Cl", n // 2 - 1), ("Na", n // 2 + 1))}
    for row in rows:
        params = json.loads(row.generator_params)
        assert row.species[params["site"]] == params["to"] != params["from"]
    parent, row_id = si_cubic
    assert _rows("antisite", {}, parent, row_id) == []  # an element has no antisites


def test_silicon_interstitial_sits_on_the_tetrahedral_site(si_cubic: tuple[Configuration, str]) -> None:
    parent, row_id = si_cubic
    a = float(parent.lattice[0, 0])
    (row,) = _rows("interstitial", {"min_atoms": 64}, parent, row_id)
    params = json.loads(row.generator_params)
    assert row.nsites == 65 and row.species[-1] == "Si"
    # the largest empty sphere of diamond is the tetrahedral site, sqrt(3)/4 a from its 4 nearest atoms
    assert params["radius_ang"] == pytest.approx(np.sqrt(3) / 4 * a, abs=1e-5)
    distances = np.linalg.norm(row.positions[:-1] - row.positions[-1], axis=1)
    assert np.sort(distances)[:4] == pytest.approx([np.sqrt(3) / 4 * a] * 4, abs=1e-5)
    assert np.sort(distances)[4] == pytest.approx(a / 2, abs=1e-5)  # then 6 atoms at a / 2
    assert min_distance_violation(row) is None


def test_slabs_have_small_miller_indices_and_ten_angstrom_vacuum(si_cubic: tuple[Configuration, str]) -> None:
    parent, row_id = si_cubic
    rows = _rows("surface", {"max_index": 2, "vacuum_ang": 10.0, "min_slab_ang": 8.0}, parent, row_id)
    millers = {tuple(json.loads(r.generator_params)["miller"]) for r in rows}
    assert {(1, 0, 0), (1, 1, 0), (1, 1, 1)} <= millers
    assert all(max(abs(i) for i in m) <= 2 for m in millers)
    for row in rows:
        assert vacuum_thickness(row.lattice, row.positions) >= 10.0
        normal = np.cross(row.lattice[0], row.lattice[1])
        heights = row.positions @ (normal / np.linalg.norm(normal))
        assert np.ptp(heights) >= 8.0 - 1.5  # slab thickness: min_slab_ang, less at most one layer spacing
        assert row.pbc == (1, 1, 1) and set(row.species) == {"Si"}
        assert shortest_distance(row) == pytest.approx(np.sqrt(3) / 4 * parent.lattice[0, 0], abs=1e-4)
        assert row.parent_id == row_id and row.generator == "surface"


def test_thicker_vacuum_is_honoured(si_cubic: tuple[Configuration, str]) -> None:
    parent, row_id = si_cubic
    rows = _rows("surface", {"max_index": 1, "vacuum_ang": 15.0}, parent, row_id)
    assert rows and min(vacuum_thickness(r.lattice, r.positions) for r in rows) >= 15.0


def test_ensure_vacuum_tops_up_a_thin_gap(si_cubic: tuple[Configuration, str]) -> None:
    parent, row_id = si_cubic
    slab = _rows("surface", {"max_index": 1}, parent, row_id)[0]
    squeezed = slab.lattice.copy()
    squeezed[2] *= 0.6  # leaves a few angstrom of vacuum
    assert vacuum_thickness(squeezed, slab.positions) < 5.0
    lattice, positions = ensure_vacuum(squeezed, slab.positions, 10.0)
    assert 10.0 <= vacuum_thickness(lattice, positions) < 10.0 + 1e-5
    np.testing.assert_array_equal(lattice[:2], squeezed[:2])
    # the slab moves rigidly (re-centred along c): interatomic vectors are unchanged
    np.testing.assert_allclose(positions - positions[0], slab.positions - slab.positions[0], rtol=0, atol=1e-12)
    normal = np.cross(lattice[0], lattice[1])
    heights = positions @ (normal / np.linalg.norm(normal))
    c_height = abs(lattice[2] @ normal / np.linalg.norm(normal))
    assert 0.5 * (heights.min() + heights.max()) == pytest.approx(0.5 * c_height, abs=1e-9)
