"""High-temperature NVT: the thermostat reaches the target temperature, frames are unlabelled and reproducible."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT

from curate.checks.quality import min_distance_violation
from curate.dataset.configuration import Configuration, Rejected
from curate.errors import ConfigurationError
from sampling.generators import SeedStream, make_generator
from sampling.generators.md import nvt_frames


def _copper(repeat: int) -> Configuration:
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (repeat, repeat, repeat)
    return Configuration(
        species=atoms.get_chemical_symbols(), lattice=np.array(atoms.cell[:]), positions=atoms.positions
    )


def test_nvt_samples_the_target_temperature_and_equipartition() -> None:
    """32 Cu atoms with EMT at 1000 K: mean kinetic temperature ~1000 K, potential energy up by ~3/2 kB T per atom."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    reference = atoms.copy()
    reference.calc = EMT()
    e0 = reference.get_potential_energy()
    temperatures, rises = [], []
    frames = nvt_frames(
        atoms,
        EMT(),
        temperature_k=1000.0,
        timestep_fs=4.0,
        friction_per_fs=0.02,
        equilibration_steps=200,
        interval_steps=20,
        n_frames=60,
        seed=1,
    )
    for _, snapshot in frames:
        dof = 3 * len(snapshot) - 3  # the centre of mass is fixed
        temperatures.append(2 * snapshot.get_kinetic_energy() / (dof * units.kB))
        snapshot.calc = EMT()
        rises.append((snapshot.get_potential_energy() - e0) / len(snapshot))
    assert np.mean(temperatures) == pytest.approx(1000.0, rel=0.06)  # measured 1002 K
    # harmonic solid: <E_pot> - E_0 = (3N - 3)/2 kB T; EMT Cu at 1000 K is close to harmonic (measured 0.1247 eV)
    assert np.mean(rises) == pytest.approx(1.5 * units.kB * 1000.0 * 93 / 96, rel=0.1)
    assert len(atoms) == 32 and not atoms.get_momenta().any()  # the input is not touched


def test_md_frames_are_unlabelled_reproducible_rows(si_cubic: tuple[Configuration, str]) -> None:
    copper = _copper(1)  # 4 atoms: repeated to 8 by min_atoms
    generator = make_generator(
        "md", {"calculator": "emt", "temperature_k": 1000.0, "interval_steps": 5, "n_frames": 3, "min_atoms": 8}
    )
    rows = list(generator.generate(copper, parent_id="cu-parent", seeds=SeedStream(2)))
    again = list(generator.generate(copper, parent_id="cu-parent", seeds=SeedStream(2)))
    assert len(rows) == 3 and all(isinstance(r, Configuration) for r in rows)
    steps = []
    for row, same in zip(rows, again, strict=True):
        assert isinstance(row, Configuration) and isinstance(same, Configuration)
        params = json.loads(row.generator_params or "")
        steps.append(params["step"])
        assert params["supercell"] == [2, 1, 1] and params["calculator"] == "emt" and params["temperature_k"] == 1000.0
        assert row.nsites == 8 and row.parent_id == "cu-parent" and row.generator == "md"
        assert row.energy is None and row.forces is None and row.stress is None and row.functional is None
        assert row.seed == rows[0].seed  # one trajectory, one seed
        assert min_distance_violation(row) is None
        np.testing.assert_array_equal(row.positions, same.positions)
    assert steps == [5, 10, 15]
    assert not np.allclose(rows[0].positions, rows[1].positions)
    # EMT has no silicon: the parent is refused with the calculator's reason, nothing crashes
    parent, row_id = si_cubic
    (refused,) = list(generator.generate(parent, parent_id=row_id, seeds=SeedStream(2)))
    assert isinstance(refused, Rejected) and "No EMT-potential for Si" in refused.reason


def test_md_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="unknown model"):
        make_generator("md", {"calculator": "lj"})
    with pytest.raises(ConfigurationError, match="md:"):
        make_generator("md", {"calculator": "emt", "temperature_k": -5})
    with pytest.raises(ConfigurationError, match="device must be cpu, cuda or auto"):
        make_generator("md", {"calculator": "emt", "device": "gpu"})
    # the device is where the calculator runs, recorded with the step, not in every row
    assert make_generator("md", {"calculator": "emt", "device": "cpu"}).params()["device"] == "cpu"


@pytest.mark.slow
@pytest.mark.model
def test_chgnet_md_smoke(si_cubic: tuple[Configuration, str]) -> None:
    """The default calculator: CHGNet 0.3.0 from the wheel drives 20 steps of 1000 K NVT on 8 Si atoms."""
    parent, row_id = si_cubic
    generator = make_generator("md", {"temperature_k": 1000.0, "interval_steps": 10, "n_frames": 2})
    rows = list(generator.generate(parent, parent_id=row_id, seeds=SeedStream(0)))
    assert len(rows) == 2 and all(isinstance(r, Configuration) for r in rows)
    for row in rows:
        assert isinstance(row, Configuration)
        assert json.loads(row.generator_params or "")["calculator"] == "chgnet@0.3.0"
        assert row.energy is None and row.functional is None  # CHGNet energies are not labels
        displacement = np.linalg.norm(row.positions - parent.positions, axis=1)
        assert 0.005 < displacement.mean() < 0.5  # 20-40 fs at 1000 K: atoms moved, the crystal held
        assert min_distance_violation(row) is None
