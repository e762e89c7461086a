"""Row building: ids are content hashes, derived columns are right, bad shapes are refused by field."""

from __future__ import annotations

import numpy as np
import pytest

from curate.dataset.configuration import (
    Configuration,
    batch_to_configurations,
    check_configuration,
    configurations_to_batch,
    reduced_formula,
    stress_gpa_from_vasp_kbar,
    voigt6_to_matrix,
)
from curate.errors import RecordRejected


def _si(**changes: object) -> Configuration:
    cfg = Configuration(
        species=["Si", "Si"],
        lattice=np.eye(3) * 5.43,
        positions=np.array([[0.0, 0.0, 0.0], [1.3575, 1.3575, 1.3575]]),
        energy=-10.85,
        forces=np.array([[0.1, 0.0, -0.2], [-0.1, 0.0, 0.2]]),
        stress=np.diag([1.0, 2.0, 3.0]),
        functional="PBE",
    )
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


def test_id_is_a_content_hash() -> None:
    batch = configurations_to_batch(
        [_si(), _si(source_file="elsewhere"), _si(energy=-10.851), _si(functional="r2SCAN")]
    )
    ids = batch.column("id").to_pylist()
    geometry = batch.column("geometry_hash").to_pylist()
    assert ids[0] == ids[1], "provenance columns must not change the content id"
    assert len({ids[0], ids[2], ids[3]}) == 3, "energy and functional are part of the content"
    assert len(set(geometry)) == 1, "same geometry, same geometry hash across functionals"
    # below the 1e-6 rounding the id is stable; -0.0 and 0.0 hash alike
    shifted = _si(positions=_si().positions + 1e-9)
    assert configurations_to_batch([shifted]).column("id")[0].as_py() == ids[0]


def test_derived_columns_and_round_trip() -> None:
    cfg = _si(
        species=["O", "As", "As", "S", "O"],
        positions=np.arange(15, dtype=float).reshape(5, 3),
        forces=np.zeros((5, 3)),
        hubbard_u={"As": 1.5},
    )
    row = configurations_to_batch([cfg]).to_pylist()[0]
    assert row["nsites"] == 5
    assert row["elements"] == ["As", "O", "S"]
    assert row["chemical_formula_reduced"] == "As2O2S"
    assert row["hubbard_u"] == [{"element": "As", "u_ev": 1.5}]
    back = batch_to_configurations(configurations_to_batch([cfg]))[0]
    np.testing.assert_array_equal(back.positions, cfg.positions)
    assert back.hubbard_u == {"As": 1.5}


def test_reduced_formula_follows_optimade() -> None:
    assert reduced_formula(["La"] * 4 + ["Co"] * 2 + ["O"] * 8) == "CoLa2O4"
    assert reduced_formula(["Si"] * 64) == "Si"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"forces": np.zeros((3, 3))}, "forces"),
        ({"forces": np.array([[np.nan, 0, 0], [0, 0, 0]])}, "forces"),
        ({"species": ["Si", "Xx"]}, "species_at_sites"),
        ({"energy": float("inf")}, "energy"),
        ({"lattice": np.zeros((3, 3))}, "lattice_vectors"),
    ],
)
def test_bad_values_are_refused_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(RecordRejected) as info:
        check_configuration(_si(**changes))
    assert info.value.field == field


def test_stress_conversions() -> None:
    # VASP: +10 kBar = compressive; ASE: -1 GPa
    np.testing.assert_allclose(stress_gpa_from_vasp_kbar(np.eye(3) * 10.0), -np.eye(3))
    m = voigt6_to_matrix([1, 2, 3, 4, 5, 6])
    assert m[1, 2] == 4 and m[0, 2] == 5 and m[0, 1] == 6 and np.allclose(m, m.T)
