"""Strains on real Si cells: the strain recovered from old and new cells is the one requested, to 1e-12."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError
from sampling.generators import SeedStream, make_generator
from sampling.generators.strain import strain_tensor


def _rows(parent: Configuration, row_id: str, params: dict) -> list[Configuration]:
    items = list(make_generator("strain", params).generate(parent, parent_id=row_id, seeds=SeedStream(0)))
    assert all(isinstance(i, Configuration) for i in items)
    return [i for i in items if isinstance(i, Configuration)]


def test_recovered_strain_equals_requested(si_primitive: tuple[Configuration, str]) -> None:
    parent, row_id = si_primitive  # fcc lattice vectors: no two of them orthogonal
    before = parent.lattice.copy()
    rows = _rows(parent, row_id, {"isotropic": [-0.02, 0.02], "uniaxial": [-0.03, 0.03], "shear": [0.015]})
    assert len(rows) == 2 + 2 * 3 + 3
    np.testing.assert_array_equal(parent.lattice, before)
    for row in rows:
        params = json.loads(row.generator_params)
        # deformation gradient from the cells: A' = A F^T  =>  F^T = A^-1 A'
        f = np.linalg.solve(parent.lattice, row.lattice).T
        expected = strain_tensor(params["mode"], params["strain"], lattice=parent.lattice, axis=params["axis"])
        np.testing.assert_allclose(f - np.eye(3), expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(f, f.T, rtol=0, atol=1e-12)  # a pure stretch: no rotation
        # the atoms follow the cell: fractional coordinates are unchanged
        frac_old = np.linalg.solve(parent.lattice.T, parent.positions.T).T
        frac_new = np.linalg.solve(row.lattice.T, row.positions.T).T
        np.testing.assert_allclose(frac_new, frac_old, rtol=0, atol=1e-12)
        # Green-Lagrange strain E = (F^T F - I) / 2 from the metric tensors G = A A^T
        green = 0.5 * (f.T @ f - np.eye(3))
        np.testing.assert_allclose(green, expected + 0.5 * expected @ expected, rtol=0, atol=1e-12)
        assert row.seed is None and row.parent_id == row_id and row.energy is None


def test_uniaxial_three_percent_along_each_lattice_vector(si_primitive: tuple[Configuration, str]) -> None:
    parent, row_id = si_primitive
    rows = _rows(parent, row_id, {"uniaxial": [-0.03, 0.03]})
    old_lengths = np.linalg.norm(parent.lattice, axis=1)
    old_volume = abs(np.linalg.det(parent.lattice))
    seen = set()
    for row in rows:
        params = json.loads(row.generator_params)
        k = "abc".index(params["axis"])
        ratio = np.linalg.norm(row.lattice, axis=1) / old_lengths
        assert ratio[k] - 1 == pytest.approx(params["strain"], abs=1e-12)  # exactly +-3 % along a_k
        assert abs(np.linalg.det(row.lattice)) / old_volume == pytest.approx(1 + params["strain"], abs=1e-12)
        seen.add((params["axis"], params["strain"]))
    assert seen == {(axis, e) for axis in "abc" for e in (-0.03, 0.03)}


def test_isotropic_strain_scales_the_volume(si_cubic: tuple[Configuration, str]) -> None:
    parent, row_id = si_cubic
    (row,) = _rows(parent, row_id, {"isotropic": [0.03]})
    assert abs(np.linalg.det(row.lattice) / np.linalg.det(parent.lattice)) == pytest.approx(1.03**3, abs=1e-12)
    np.testing.assert_allclose(row.positions, parent.positions * 1.03, rtol=0, atol=1e-12)


@pytest.mark.parametrize("params", [{}, {"uniaxial": [0.0]}, {"shear": [0.6]}, {"uniaxial": [0.03], "bogus": 1}])
def test_bad_strain_settings_are_refused(params: dict) -> None:
    with pytest.raises(ConfigurationError, match="strain"):
        make_generator("strain", params)
