"""The built-in offline demo: structures built in code, labelled with ASE's EMT, through the real pipeline.

Until ``curate sample --budget 1`` exists this is the main job of the quick start. Every structure comes from
ASE's builders (nothing is downloaded or read from disk); near-equilibrium cells are joined by seeded
rattles and strains, and one deliberately squeezed cell shows the quality gate quarantining a record.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import GPa

from curate.configuration import Configuration, canonical_json
from curate.ingest import FileReport, write_items
from curate.sources import Rejected
from curate.store import Dataset

DEMO_ELEMENTS = ("Al", "Cu", "Ni", "Ag", "Pd")
RATTLE_STD_ANG = (0.02, 0.05, 0.1)
STRAINS = (-0.03, 0.03)


def _labelled(atoms: Atoms, *, parent: str, generator: str | None, params: dict, seed: int | None) -> Configuration:
    atoms = atoms.copy()
    atoms.calc = EMT()
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


def demo_configurations(*, seed: int = 0) -> Iterator[Configuration | Rejected]:
    """Equilibrium fcc cells of five metals (2x2x2 supercells), seeded rattles, +-3 % strains, one bad cell."""
    rng = np.random.default_rng(seed)
    for element in DEMO_ELEMENTS:
        base = bulk(element, "fcc", cubic=True) * (2, 2, 2)
        name = f"{element}-fcc"
        yield _labelled(base, parent=name, generator=None, params={}, seed=None)
        for std in RATTLE_STD_ANG:
            row_seed = int(rng.integers(2**31))
            rattled = base.copy()
            rattled.positions += np.random.default_rng(row_seed).normal(0.0, std, rattled.positions.shape)
            yield _labelled(rattled, parent=name, generator="gaussian-rattle", params={"std_ang": std}, seed=row_seed)
        for strain in STRAINS:
            strained = base.copy()
            strained.set_cell(base.cell[:] * (1.0 + strain), scale_atoms=True)
            yield _labelled(strained, parent=name, generator="strain", params={"isotropic": strain}, seed=None)
    squeezed = bulk("Cu", "fcc", cubic=True)
    squeezed.positions[1] = squeezed.positions[0] + [0.3, 0.0, 0.0]
    yield _labelled(squeezed, parent="Cu-fcc", generator="broken-on-purpose", params={"gap_ang": 0.3}, seed=None)


def build_demo(out: Path, *, seed: int = 0) -> FileReport:
    """Write the demo dataset to ``out`` through the quality gate; returns the counts."""
    dataset = Dataset.create(out)
    report = FileReport(path="curate-demo")
    with dataset.writer() as writer:
        write_items(demo_configurations(seed=seed), writer=writer, display_name="curate-demo", file_report=report)
        writer.flush()
        dataset.record_history(
            {"command": "demo", "seed": seed, "rows_added": report.rows_added, "quarantined": report.quarantined}
        )
    return report
