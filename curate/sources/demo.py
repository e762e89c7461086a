"""The built-in offline demo: built-in structures, labelled with ASE's EMT, through the real import pipeline.

The recipe is ``datasets/demo.yaml`` (the recipe schema of :mod:`curate.sources.recipes`): the fcc metals of
:mod:`curate.sources.builtin` as 2x2x2 supercells, each joined by seeded Gaussian rattles and isotropic
strains, plus one deliberately squeezed cell that shows the quality gate quarantining a record. The demo's
rows keep their own provenance (source ``demo``, no parent row, a 31-bit seed per rattle drawn from one
generator seeded by the run seed), which is why it applies its two perturbations here rather than through the
generators of :mod:`sampling` (a later stage).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import GPa

from curate.dataset.configuration import Configuration, Rejected, canonical_json
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError
from curate.models.calculator import ase_calculator
from curate.sources.builtin import builtin_atoms
from curate.sources.ingest import FileReport, write_items
from curate.sources.recipes import PARENTS, RecipeSpec, StepSpec, read_recipe

DEMO_RECIPE = "demo"
# the cell the quality gate must quarantine: this structure with its second atom this far (A) from the first
QUARANTINE_EXAMPLE = ("Cu-fcc", 0.3)
_DEMO_STEPS = {"gaussian-rattle": "std_ang", "strain": "isotropic"}


def _labelled(atoms: Atoms, *, parent: str, generator: str | None, params: dict, seed: int | None) -> Configuration:
    atoms = atoms.copy()
    atoms.calc = ase_calculator("emt")
    return Configuration(
        species=atoms.get_chemical_symbols(),
        lattice=np.array(atoms.cell[:], dtype=np.float64),
        positions=atoms.get_positions(),
        pbc=tuple(int(p) for p in atoms.pbc),  # type: ignore[arg-type]
        energy=float(atoms.get_potential_energy()),
        energy_field="ase-emt",
        forces=atoms.get_forces(),
        stress=atoms.get_stress(voigt=False) / GPa,
        functional="EMT",
        source="demo",
        source_file="curate-demo",
        source_record=f"{parent} {generator or 'equilibrium'} {canonical_json(params)}",
        material_id=parent,
        generator=generator,
        generator_params=canonical_json(params) if generator else None,
        seed=seed,
    )


def _amounts(step: StepSpec) -> list[float]:
    """The rattle standard deviations (A) or isotropic strains of a demo step; ConfigurationError for others."""
    key = _DEMO_STEPS.get(step.generator)
    if key is None or set(step.params) != {key} or step.input != PARENTS or step.take is not None:
        accepted = ", ".join(f"{name} with {param}" for name, param in _DEMO_STEPS.items())
        raise ConfigurationError(f"{step.where}: the demo applies only {accepted} to the structures")
    value = step.params[key]
    return [float(v) for v in value] if isinstance(value, list | tuple) else [float(value)]


def _perturbed(base: Atoms, name: str, step: StepSpec, rng: np.random.Generator) -> Iterator[Configuration]:
    """The demo rows one step makes from ``base``: seeded Gaussian rattles or isotropically strained cells."""
    for amount in _amounts(step):
        if step.generator == "gaussian-rattle":
            row_seed = int(rng.integers(2**31))
            rattled = base.copy()
            rattled.positions += np.random.default_rng(row_seed).normal(0.0, amount, rattled.positions.shape)
            yield _labelled(rattled, parent=name, generator=step.generator, params={"std_ang": amount}, seed=row_seed)
        else:
            strained = base.copy()
            strained.set_cell(base.cell[:] * (1.0 + amount), scale_atoms=True)
            yield _labelled(strained, parent=name, generator=step.generator, params={"isotropic": amount}, seed=None)


def demo_configurations(recipe: RecipeSpec) -> Iterator[Configuration | Rejected]:
    """Each built-in structure of the recipe at equilibrium, then its perturbations step by step; one bad cell."""
    rng = np.random.default_rng(recipe.seed)
    for name in recipe.structures:
        base = builtin_atoms(name, recipe.supercell)
        yield _labelled(base, parent=name, generator=None, params={}, seed=None)
        for step in recipe.steps:
            yield from _perturbed(base, name, step, rng)
    name, gap_ang = QUARANTINE_EXAMPLE
    squeezed = builtin_atoms(name)
    squeezed.positions[1] = squeezed.positions[0] + [gap_ang, 0.0, 0.0]
    yield _labelled(squeezed, parent=name, generator="broken-on-purpose", params={"gap_ang": gap_ang}, seed=None)


def build_demo(out: Path, *, seed: int = 0) -> FileReport:
    """Write the demo dataset to ``out`` through the quality gate; returns the counts."""
    recipe = read_recipe(DEMO_RECIPE, seed=seed)
    dataset = Dataset.create(out)
    report = FileReport(path="curate-demo")
    with dataset.writer() as writer:
        write_items(demo_configurations(recipe), writer=writer, display_name="curate-demo", file_report=report)
        writer.flush()
        dataset.record_history(
            {"command": "demo", "seed": seed, "rows_added": report.rows_added, "quarantined": report.quarantined}
        )
    return report
