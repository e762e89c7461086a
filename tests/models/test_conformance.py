"""Conformance tests every model adapter passes, run through the model spec a user types.

Invariants checked on real Si structures: one Prediction per structure with the documented shapes; batched ==
one at a time; energy and forces invariant under a rigid translation; net force ~0 in a periodic cell;
forces = -dE/dx by central finite differences; inputs not mutated.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import Configuration
from curate.models import Model, load_model

# CHGNet and matgl run in float32, MACE here in float64: tolerances follow the precision (eV, eV/A, GPa).
TOLERANCES = {
    "chgnet": {"energy": 2e-3, "forces": 2e-4, "stress": 2e-3, "fd": 2e-2},
    "mace": {"energy": 1e-9, "forces": 1e-9, "stress": 1e-9, "fd": 1e-5},
    "matgl": {"energy": 1e-3, "forces": 1e-4, "stress": 1e-3, "fd": 5e-3},
}

ADAPTERS = ["chgnet", "mace", "matgl"]

# every test here loads a model: CHGNet from its wheel, or the tiny random MACE and matgl models
pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module", params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> tuple[str, Model]:
    kind = request.param
    if kind == "chgnet":
        spec = "chgnet@0.3.0"
    elif kind == "mace":
        spec = f"mace:{request.getfixturevalue('mace_file')}"
    else:
        spec = f"matgl:{request.getfixturevalue('matgl_dir')}"
    return kind, load_model(spec, device="cpu")


@pytest.fixture(scope="module")
def batched(adapter: tuple[str, Model], real_structures: list[Configuration]) -> list:
    return adapter[1].predict(real_structures, max_atoms_per_batch=10_000)


def test_shapes_and_provenance(adapter: tuple[str, Model], real_structures, batched) -> None:
    kind, model = adapter
    assert isinstance(model, Model)
    assert model.info.architecture == kind
    assert len(model.info.file_sha256) == 64
    assert len(batched) == len(real_structures)
    for cfg, pred in zip(real_structures, batched, strict=True):
        assert isinstance(pred.energy, float) and np.isfinite(pred.energy)
        assert pred.forces.shape == (cfg.nsites, 3)
        assert pred.stress.shape == (3, 3)
        np.testing.assert_allclose(pred.stress, pred.stress.T, atol=TOLERANCES[kind]["stress"])


def test_batched_equals_single(adapter: tuple[str, Model], real_structures, batched) -> None:
    kind, model = adapter
    tol = TOLERANCES[kind]
    # max_atoms_per_batch=1: every structure runs alone
    single = model.predict(real_structures, max_atoms_per_batch=1)
    for a, b in zip(batched, single, strict=True):
        assert abs(a.energy - b.energy) <= tol["energy"]
        np.testing.assert_allclose(a.forces, b.forces, atol=tol["forces"])
        np.testing.assert_allclose(a.stress, b.stress, atol=tol["stress"])


def test_translation_invariance_and_zero_net_force(adapter: tuple[str, Model], real_structures, batched) -> None:
    kind, model = adapter
    tol = TOLERANCES[kind]
    shift = np.array([0.37, -1.21, 2.05])
    moved = [replace(c, positions=c.positions + shift) for c in real_structures]
    again = model.predict(moved, max_atoms_per_batch=10_000)
    for cfg, a, b in zip(real_structures, batched, again, strict=True):
        assert abs(a.energy - b.energy) <= tol["energy"] * max(1, cfg.nsites / 8)
        np.testing.assert_allclose(a.forces, b.forces, atol=tol["forces"] * 10)
        # a periodic cell feels no net force (momentum conservation)
        assert np.abs(a.forces.sum(axis=0)).max() <= tol["forces"] * 10 * cfg.nsites


def test_forces_are_minus_energy_gradient(adapter: tuple[str, Model], real_structures, batched) -> None:
    kind, model = adapter
    cfg = real_structures[0]  # Si64 MD frame 1
    h = 1e-3 if kind != "mace" else 1e-4
    atom, axis = 5, 1
    plus = cfg.positions.copy()
    minus = cfg.positions.copy()
    plus[atom, axis] += h
    minus[atom, axis] -= h
    e_plus, e_minus = (
        p.energy
        for p in model.predict([replace(cfg, positions=plus), replace(cfg, positions=minus)], max_atoms_per_batch=64)
    )
    finite_difference = -(e_plus - e_minus) / (2 * h)
    analytic = batched[0].forces[atom, axis]
    assert abs(finite_difference - analytic) <= TOLERANCES[kind]["fd"] * max(1.0, abs(analytic))


def test_inputs_not_mutated(adapter: tuple[str, Model], real_structures) -> None:
    before = copy.deepcopy(real_structures[:2])
    adapter[1].predict(real_structures[:2], max_atoms_per_batch=100)
    for a, b in zip(before, real_structures[:2], strict=True):
        assert a.species == b.species
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.lattice, b.lattice)
        np.testing.assert_array_equal(a.forces, b.forces)


def test_spec_loads_the_same_file(mace_file: Path, matgl_dir: Path) -> None:
    mace = load_model(f"mace:{mace_file}", device="cpu")
    matgl = load_model(f"matgl:{matgl_dir}", device="cpu")
    assert mace.info.name == f"mace:{mace_file}" and mace.info.library.startswith("mace-torch ")
    assert matgl.info.name == f"matgl:{matgl_dir}" and matgl.info.library.startswith("matgl ")
    assert mace.info.version == mace.info.file_sha256[:12]


def _ase_calculator(kind: str, model: Model):  # type: ignore[no-untyped-def]
    """The library's own ASE calculator for the same weights: the independent reference for units and signs."""
    if kind == "chgnet":
        from chgnet.model.dynamics import CHGNetCalculator

        return CHGNetCalculator(model=model.model, use_device="cpu")  # type: ignore[attr-defined]
    if kind == "mace":
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=model.info.file, device="cpu", default_dtype="float64")
    from matgl.ext.ase import PESCalculator

    return PESCalculator(model.potential, stress_unit="eV/A3")  # type: ignore[attr-defined]


def test_matches_the_librarys_ase_calculator(adapter: tuple[str, Model], real_structures, batched) -> None:
    """Energy in eV (total, not per atom), forces in eV/A, stress in GPa with the ASE sign."""
    import ase
    from ase.units import GPa

    kind, model = adapter
    tol = TOLERANCES[kind]
    calculator = _ase_calculator(kind, model)
    for cfg, pred in list(zip(real_structures, batched, strict=True))[::2]:
        atoms = ase.Atoms(cfg.species, positions=cfg.positions, cell=cfg.lattice, pbc=True)
        atoms.calc = calculator
        assert abs(atoms.get_potential_energy() - pred.energy) <= tol["energy"] * max(1, cfg.nsites / 8)
        np.testing.assert_allclose(atoms.get_forces(), pred.forces, atol=tol["forces"] * 10)
        np.testing.assert_allclose(atoms.get_stress(voigt=False) / GPa, pred.stress, atol=tol["stress"] * 10)
