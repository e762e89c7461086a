"""The built-in offline demo: structures built in code, labelled with ASE's EMT, through the real pipeline.

Until ``curate sample --budget 1`` exists this is the main job of the quick start. The recipe is
``datasets/demo.yaml``; every structure comes from ASE's builders (nothing is downloaded); near-equilibrium
cells are joined by seeded rattles and strains, and one deliberately squeezed cell shows the quality gate
quarantining a record.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from ase import Atoms
from ase.build import bulk
from ase.units import GPa

from curate.dataset.configuration import Configuration, Rejected, canonical_json
from curate.dataset.resources import packaged_file
from curate.dataset.store import Dataset
from curate.models.calculator import ase_calculator
from curate.sources.ingest import FileReport, write_items


def load_recipe(name: str = "demo.yaml") -> dict[str, Any]:
    """The parsed YAML recipe."""
    return yaml.safe_load(packaged_file("datasets", name).read_text())


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


def demo_configurations(recipe: dict[str, Any], *, seed: int = 0) -> Iterator[Configuration | Rejected]:
    """Equilibrium cells of the recipe's elements, seeded Gaussian rattles, isotropic strains, one bad cell."""
    rng = np.random.default_rng(seed)
    structures = recipe["structures"]
    perturbations = recipe["perturbations"]
    for element in structures["elements"]:
        base = bulk(element, structures["crystal"], cubic=True) * tuple(structures["supercell"])
        name = f"{element}-{structures['crystal']}"
        yield _labelled(base, parent=name, generator=None, params={}, seed=None)
        for std in perturbations["gaussian_rattle_std_ang"]:
            row_seed = int(rng.integers(2**31))
            rattled = base.copy()
            rattled.positions += np.random.default_rng(row_seed).normal(0.0, std, rattled.positions.shape)
            yield _labelled(rattled, parent=name, generator="gaussian-rattle", params={"std_ang": std}, seed=row_seed)
        for strain in perturbations["isotropic_strain"]:
            strained = base.copy()
            strained.set_cell(base.cell[:] * (1.0 + strain), scale_atoms=True)
            yield _labelled(strained, parent=name, generator="strain", params={"isotropic": strain}, seed=None)
    bad = recipe["quality_gate_example"]
    squeezed = bulk(bad["element"], structures["crystal"], cubic=True)
    squeezed.positions[1] = squeezed.positions[0] + [bad["gap_ang"], 0.0, 0.0]
    yield _labelled(
        squeezed,
        parent=f"{bad['element']}-{structures['crystal']}",
        generator="broken-on-purpose",
        params={"gap_ang": bad["gap_ang"]},
        seed=None,
    )


def build_demo(out: Path, *, seed: int = 0) -> FileReport:
    """Write the demo dataset to ``out`` through the quality gate; returns the counts."""
    dataset = Dataset.create(out)
    report = FileReport(path="curate-demo")
    with dataset.writer() as writer:
        write_items(
            demo_configurations(load_recipe(), seed=seed), writer=writer, display_name="curate-demo", file_report=report
        )
        writer.flush()
        dataset.record_history(
            {"command": "demo", "seed": seed, "rows_added": report.rows_added, "quarantined": report.quarantined}
        )
    return report
