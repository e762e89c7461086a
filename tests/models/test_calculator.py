"""ASE calculators by spec: EMT, a model through ModelCalculator, CHGNet through its own calculator.

Checked on real structures: the ASE forces are -dE/dx and the ASE stress is (1/V) dE/d(strain) by central
finite differences (the sign and unit conventions ASE's integrators rely on), and the numbers equal the
adapter's own prediction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import GPa

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError
from curate.models import load_model
from curate.models.calculator import ModelCalculator, ase_calculator, calculator_factory, to_atoms


def test_emt_by_spec_is_ases_emt() -> None:
    copper = bulk("Cu", "fcc", a=3.7, cubic=True)
    copper.rattle(0.05, seed=3)
    reference = copper.copy()
    reference.calc = EMT()
    copper.calc = ase_calculator("EMT")
    assert copper.get_potential_energy() == reference.get_potential_energy()
    np.testing.assert_array_equal(copper.get_forces(), reference.get_forces())


def test_unknown_specs_are_refused_before_anything_loads() -> None:
    with pytest.raises(ConfigurationError, match="unknown model 'lj'"):
        calculator_factory("lj")
    with pytest.raises(ConfigurationError, match="unknown model"):
        calculator_factory("chgnet@9.9.9")


@pytest.mark.slow
@pytest.mark.model
def test_model_calculator_gives_the_adapters_numbers_in_ase_units(
    mace_file: Path, real_structures: list[Configuration]
) -> None:
    model = load_model(f"mace:{mace_file}", device="cpu")
    si8 = next(c for c in real_structures if c.nsites == 8)
    (prediction,) = model.predict([si8], max_atoms_per_batch=100)
    atoms = to_atoms(si8)
    atoms.calc = ModelCalculator(model)
    assert atoms.get_potential_energy() == pytest.approx(prediction.energy, abs=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), prediction.forces, atol=1e-12)
    np.testing.assert_allclose(atoms.get_stress(voigt=False) / GPa, prediction.stress, atol=1e-9)
    # conventions: F = -dE/dx and sigma = (1/V) dE/d(eps), by central differences (MACE runs in float64)
    np.testing.assert_allclose(atoms.get_forces(), atoms.calc.calculate_numerical_forces(atoms, d=1e-4), atol=1e-6)
    np.testing.assert_allclose(atoms.get_stress(), atoms.calc.calculate_numerical_stress(atoms, d=1e-5), atol=1e-7)
    assert not np.shares_memory(atoms.positions, si8.positions)


@pytest.mark.slow
@pytest.mark.model
def test_chgnet_spec_runs_chgnets_own_calculator_on_the_requested_device() -> None:
    from chgnet.model.dynamics import CHGNetCalculator

    calculator = ase_calculator("chgnet@0.3.0", device="cpu")
    assert isinstance(calculator, CHGNetCalculator) and calculator.device == "cpu"
    silicon = bulk("Si", "diamond", a=5.43, cubic=True)
    silicon.calc = calculator
    # perfect diamond Si: no force by symmetry; CHGNet 0.3.0's energy is near PBE's -5.4 eV/atom
    assert np.abs(silicon.get_forces()).max() < 1e-4
    assert -5.6 < silicon.get_potential_energy() / len(silicon) < -5.2
