"""ASE calculators by spec: ``emt`` or any model spec of the registry, from one factory.

MD, calculator labels and the demo drive ASE with a calculator named by a spec:

* ``emt`` -- ASE's EMT (Al, Cu, Ag, Au, Ni, Pd, Pt only): fast, offline, not DFT;
* ``chgnet@0.3.0``, ``chgnet@0.2.0``, ``chgnet@r2scan``, ``chgnet:FILE`` -- loaded by
  :func:`curate.models.registry.load_model` and run by CHGNet's own ``CHGNetCalculator`` (the integrator then
  sees exactly the numbers CHGNet's ASE interface gives);
* ``mace:FILE``, ``matgl:DIR`` -- loaded by the registry and run through :class:`ModelCalculator`, which asks
  the adapter's ``predict`` for one structure at a time.

Every calculator returns energy (eV), forces (eV/A) and stress (eV/A^3, ASE sign and Voigt order), as ASE wants.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress
from ase.units import GPa

from curate.dataset.configuration import Configuration
from curate.models.base import Model
from curate.models.registry import load_model, parse_spec

ASE_CALCULATORS = ("emt",)
CALCULATOR_HELP = (
    "emt (ASE's EMT: Al, Cu, Ag, Au, Ni, Pd, Pt only) or a model spec: chgnet@0.3.0, chgnet@0.2.0, "
    "chgnet@r2scan, chgnet:FILE, mace:FILE, matgl:DIR"
)

CalculatorFactory = Callable[[], Calculator]


def is_ase_calculator(spec: str) -> bool:
    """True for a calculator that ships with ASE (``emt``), False for a model spec."""
    return spec.strip().lower() in ASE_CALCULATORS


def check_calculator_spec(spec: str) -> None:
    """Raise ConfigurationError (naming the valid forms) unless ``spec`` is ``emt`` or a model spec."""
    if not is_ase_calculator(spec):
        parse_spec(spec)


def to_atoms(cfg: Configuration) -> Atoms:
    """ASE Atoms of a configuration (a copy; cell rows and positions in angstrom, no calculator)."""
    return Atoms(cfg.species, positions=cfg.positions.copy(), cell=cfg.lattice.copy(), pbc=[bool(p) for p in cfg.pbc])


class ModelCalculator(Calculator):
    """An ASE calculator over any :class:`~curate.models.base.Model`: one ``predict`` call per structure."""

    def __init__(self, model: Model, **kwargs: Any):
        super().__init__(**kwargs)
        self.implemented_properties = ["energy", "free_energy", "forces", "stress"]
        self.model = model

    def calculate(self, atoms: Atoms | None = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        """Energy (eV), forces (eV/A) and stress (eV/A^3, Voigt, ASE sign) of ``atoms`` from the model."""
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        cfg = Configuration(
            species=self.atoms.get_chemical_symbols(),
            lattice=np.array(self.atoms.cell[:], dtype=np.float64),
            positions=self.atoms.get_positions(),
            pbc=tuple(int(p) for p in self.atoms.pbc),  # type: ignore[arg-type]
        )
        (prediction,) = self.model.predict([cfg], max_atoms_per_batch=max(1, cfg.nsites))
        self.results = {
            "energy": float(prediction.energy),
            "free_energy": float(prediction.energy),
            "forces": np.asarray(prediction.forces, dtype=np.float64),
            "stress": full_3x3_to_voigt_6_stress(np.asarray(prediction.stress) * GPa),
        }


def _model_calculator(model: Model) -> Calculator:
    """CHGNet's own ASE calculator for a CHGNet adapter, else :class:`ModelCalculator`."""
    chgnet = getattr(model, "model", None)
    if model.info.architecture != "chgnet" or chgnet is None:
        return ModelCalculator(model)
    from chgnet.model.dynamics import CHGNetCalculator

    # CHGNetCalculator prints its device to stdout; curate keeps stdout for data
    with contextlib.redirect_stdout(sys.stderr):
        return CHGNetCalculator(model=chgnet, use_device=model.device, on_isolated_atoms="ignore")


def calculator_factory(spec: str, *, device: str | None = None) -> CalculatorFactory:
    """A function returning a fresh ASE calculator for ``spec`` on ``device`` (cpu, cuda, or auto/None).

    A model is loaded by the registry once per factory, at the first call (building a factory loads nothing);
    every later call shares its weights.

    Raises:
        ConfigurationError: ``spec`` is neither ``emt`` nor a model spec (checked now, not at the first call).
    """
    check_calculator_spec(spec)
    if is_ase_calculator(spec):
        from ase.calculators.emt import EMT

        return EMT
    loaded: list[Model] = []

    def make() -> Calculator:
        if not loaded:
            loaded.append(load_model(spec, device=device))
        return _model_calculator(loaded[0])

    return make


def ase_calculator(spec: str, *, device: str | None = None) -> Calculator:
    """One ASE calculator for ``spec`` (see :func:`calculator_factory`)."""
    return calculator_factory(spec, device=device)()
