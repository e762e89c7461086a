"""High-temperature NVT molecular dynamics with a uMLIP (or EMT), frames sampled at a fixed interval.

This is the softening paper's high-energy-state protocol (Deng et al. 2024): NVT at 1000 K with pretrained
CHGNet, a handful of frames per material, which then get DFT labels. The thermostat is ASE's Langevin
integrator (fixed centre of mass), velocities start from a Maxwell-Boltzmann distribution at the target
temperature, and both draw from the row's seed, so a trajectory is reproducible from (parent, params, seed).

The frames are stored **unlabelled**: the energies and forces the MD model computed along the way are model
predictions, not DFT, and must not enter a training set as labels.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator

from curate.dataset.configuration import Configuration, Rejected
from curate.errors import ConfigurationError
from sampling.generators.base import SeedStream, derived, make_supercell, require_periodic, supercell_repeats

CalculatorFactory = Callable[[], Calculator]
# what ASE calculators and CHGNet raise for a structure they cannot handle (EMT: an element it has no
# parameters for; CHGNet: isolated atoms, graph errors); the parent is then quarantined with the message
CALCULATOR_FAILURES = (NotImplementedError, ValueError, RuntimeError, KeyError)
CALCULATOR_HELP = "emt (ASE's EMT: Al, Cu, Ag, Au, Ni, Pd, Pt only) or a CHGNet spec: chgnet@0.3.0, chgnet@0.2.0, ..."


def calculator_factory(spec: str, *, device: str | None = None) -> CalculatorFactory:
    """A function returning a fresh ASE calculator for ``spec`` (``emt`` or ``chgnet@VERSION``).

    The CHGNet weights (from the chgnet wheel, no download) are loaded once per factory, on ``device`` (cpu,
    cuda; None or auto: CUDA when torch sees a device, else the CPU). Raises ConfigurationError for any other
    spec.
    """
    if spec == "emt":
        from ase.calculators.emt import EMT

        return EMT
    if spec == "chgnet" or spec.startswith("chgnet@"):
        from curate.models import parse_spec, select_device

        version = parse_spec(spec).location
        loaded: list[Any] = []

        def make_chgnet() -> Calculator:
            from chgnet.model import CHGNet
            from chgnet.model.dynamics import CHGNetCalculator

            resolved = select_device(device)
            if not loaded:
                # CHGNet.load prints to stdout; curate keeps stdout for data
                with contextlib.redirect_stdout(sys.stderr):
                    loaded.append(CHGNet.load(model_name=version, use_device=resolved, verbose=False))
            return CHGNetCalculator(model=loaded[0], use_device=resolved, on_isolated_atoms="ignore")

        return make_chgnet
    raise ConfigurationError(f"md: unknown calculator {spec!r}; expected {CALCULATOR_HELP}")


def to_atoms(cfg: Configuration) -> Atoms:
    """ASE Atoms of a configuration (a copy; cell rows and positions in angstrom)."""
    return Atoms(cfg.species, positions=cfg.positions.copy(), cell=cfg.lattice.copy(), pbc=[bool(p) for p in cfg.pbc])


def nvt_frames(
    atoms: Atoms,
    calculator: Calculator,
    *,
    temperature_k: float,
    timestep_fs: float,
    friction_per_fs: float,
    equilibration_steps: int,
    interval_steps: int,
    n_frames: int,
    seed: int,
) -> Iterator[tuple[int, Atoms]]:
    """Langevin NVT from Maxwell-Boltzmann velocities; yields (step, snapshot) every ``interval_steps`` steps.

    The first frame comes after ``equilibration_steps + interval_steps`` steps. Snapshots are copies with
    positions (A) and momenta (amu A / ASE time unit), without calculator. ``atoms`` is not modified.
    """
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    rng = np.random.default_rng(seed)
    if len(atoms) < 2:
        raise ConfigurationError("NVT with a fixed centre of mass needs at least 2 atoms")
    work = atoms.copy()
    work.calc = calculator
    thermalize_momenta(work, temperature_k, rng=rng)
    Stationary(work)
    work.set_constraint(FixCom())
    dynamics = Langevin(
        work,
        timestep_fs * units.fs,
        temperature_K=temperature_k,
        friction=friction_per_fs / units.fs,
        fixcm=False,
        rng=rng,
    )
    if equilibration_steps:
        dynamics.run(equilibration_steps)
    for frame in range(1, n_frames + 1):
        dynamics.run(interval_steps)
        snapshot = work.copy()
        snapshot.calc = None
        snapshot.set_constraint()
        yield equilibration_steps + frame * interval_steps, snapshot


@dataclass(frozen=True)
class MolecularDynamics:
    """NVT frames of a periodic parent at high temperature; one trajectory (one seed) per parent.

    All frames of one trajectory record that trajectory's seed; the ``step`` in their params tells them apart.

    Attributes:
        calculator: ``emt`` or a CHGNet spec such as ``chgnet@0.3.0`` (the default, as in the softening paper).
        temperature_k: thermostat temperature, K.
        timestep_fs: integration time step, fs.
        friction_per_fs: Langevin friction coefficient, 1/fs.
        equilibration_steps: steps run before the first interval.
        interval_steps: steps between sampled frames.
        n_frames: frames kept per parent.
        min_atoms: the parent is repeated along its lattice vectors until it has at least this many sites.
        calculator_override: a calculator factory to use instead of ``calculator`` (library use; the
            ``calculator`` string is still what rows record, so name it truthfully).
        calculator_device: where a model calculator runs (cpu, cuda; None or auto: CUDA when torch sees a
            device); a run-time choice like ``calculator_override``: not a recipe parameter, not in rows.
    """

    name: ClassVar[str] = "md"
    calculator: str = "chgnet@0.3.0"
    temperature_k: float = 1000.0
    timestep_fs: float = 2.0
    friction_per_fs: float = 0.01
    equilibration_steps: int = 0
    interval_steps: int = 50
    n_frames: int = 10
    min_atoms: int = 8
    calculator_override: CalculatorFactory | None = field(default=None, compare=False, repr=False)
    calculator_device: str | None = field(default=None, compare=False, repr=False)
    _factory: list[CalculatorFactory] = field(default_factory=list, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.temperature_k <= 0 or self.timestep_fs <= 0 or self.friction_per_fs < 0:
            raise ConfigurationError("md: temperature_k and timestep_fs must be positive, friction_per_fs >= 0")
        if self.equilibration_steps < 0 or self.interval_steps < 1 or self.n_frames < 1 or self.min_atoms < 2:
            raise ConfigurationError(
                "md: equilibration_steps >= 0, interval_steps >= 1, n_frames >= 1, min_atoms >= 2 required"
            )
        if self.calculator_override is None and self.calculator != "emt":
            from curate.models import parse_spec

            if parse_spec(self.calculator).architecture != "chgnet":
                raise ConfigurationError(f"md: unknown calculator {self.calculator!r}; expected {CALCULATOR_HELP}")

    def params(self) -> dict[str, Any]:
        return {
            "calculator": self.calculator,
            "temperature_k": self.temperature_k,
            "timestep_fs": self.timestep_fs,
            "friction_per_fs": self.friction_per_fs,
            "equilibration_steps": self.equilibration_steps,
            "interval_steps": self.interval_steps,
            "n_frames": self.n_frames,
            "min_atoms": self.min_atoms,
        }

    def _calculator(self) -> Calculator:
        if not self._factory:
            self._factory.append(
                self.calculator_override or calculator_factory(self.calculator, device=self.calculator_device)
            )
        return self._factory[0]()

    def generate(
        self, parent: Configuration, *, parent_id: str, seeds: SeedStream
    ) -> Iterator[Configuration | Rejected]:
        """``n_frames`` unlabelled frames; row params are the MD settings plus the frame's ``step``."""
        rejected = require_periodic(parent, generator=self.name, parent_id=parent_id)
        if rejected:
            yield rejected
            return
        seed = seeds.next()
        repeats = supercell_repeats(parent.lattice, parent.nsites, self.min_atoms)
        cell = make_supercell(parent, repeats)
        settings = {k: v for k, v in self.params().items() if k not in ("n_frames", "min_atoms")}
        settings["supercell"] = list(repeats)
        frames = nvt_frames(
            to_atoms(cell),
            self._calculator(),
            temperature_k=self.temperature_k,
            timestep_fs=self.timestep_fs,
            friction_per_fs=self.friction_per_fs,
            equilibration_steps=self.equilibration_steps,
            interval_steps=self.interval_steps,
            n_frames=self.n_frames,
            seed=seed,
        )
        while True:
            try:
                step, snapshot = next(frames)
            except StopIteration:
                return
            except CALCULATOR_FAILURES as exc:
                yield Rejected(
                    f"{self.name} parent={parent_id} seed={seed}",
                    "species_at_sites",
                    f"calculator {self.calculator} failed on {cell.nsites} atoms: {type(exc).__name__}: {exc}",
                )
                return
            yield derived(
                cell,
                parent_id=parent_id,
                generator=self.name,
                params={**settings, "step": step},
                seed=seed,
                positions=snapshot.get_positions(),
            )
