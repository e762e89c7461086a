"""Candidate pools as Arrow tables of the row schema: the built-in offline default (seeds from ASE's builders,
rattled and strained), or every row of a dataset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from ase import Atoms
from ase.build import bulk

from curate.checks.quality import gate
from curate.dataset.configuration import Configuration, Rejected, configurations_to_batch
from curate.dataset.store import Dataset
from sampling.generators.base import SeedStream
from sampling.generators.rattle import GaussianRattle
from sampling.generators.strain import Strain

# (name, ASE builder arguments): small conventional cells of four bonding types, 4-8 atoms each
DEFAULT_SEEDS: tuple[tuple[str, dict], ...] = (
    ("Si-diamond", {"name": "Si", "crystalstructure": "diamond", "a": 5.43, "cubic": True}),
    ("Cu-fcc", {"name": "Cu", "crystalstructure": "fcc", "a": 3.61, "cubic": True}),
    ("NaCl-rocksalt", {"name": "NaCl", "crystalstructure": "rocksalt", "a": 5.64, "cubic": True}),
    ("MgO-rocksalt", {"name": "MgO", "crystalstructure": "rocksalt", "a": 4.21, "cubic": True}),
)
DEFAULT_RATTLE_STD_ANG = (0.05, 0.1, 0.2)
DEFAULT_UNIAXIAL_STRAIN = (-0.03, 0.03)


@dataclass(frozen=True)
class Candidates:
    """Candidate rows (an Arrow table of the row schema) and the structures the quality gate turned away."""

    rows: pa.Table
    rejected: tuple[Rejected, ...] = ()


def _from_atoms(name: str, atoms: Atoms) -> Configuration:
    return Configuration(
        species=atoms.get_chemical_symbols(),
        lattice=np.array(atoms.cell[:], dtype=np.float64),
        positions=atoms.get_positions(),
        source="builtin",
        source_record=f"ase.build.bulk {name}",
        material_id=name,
    )


def default_seeds() -> list[Configuration]:
    """The built-in seed structures, made by ``ase.build.bulk`` (nothing is read from disk or downloaded)."""
    return [_from_atoms(name, bulk(**kwargs)) for name, kwargs in DEFAULT_SEEDS]


def _with_ids(configurations: Sequence[Configuration]) -> list[str]:
    return configurations_to_batch(list(configurations)).column("id").to_pylist() if configurations else []


def generate_candidates(
    parents: Sequence[Configuration],
    *,
    seed: int,
    rattle_std_ang: Sequence[float] = DEFAULT_RATTLE_STD_ANG,
    rattles_per_std: int = 2,
    uniaxial_strain: Sequence[float] = DEFAULT_UNIAXIAL_STRAIN,
) -> Candidates:
    """Rattled and uniaxially strained copies of every parent, gated by the quality checks.

    Per parent: ``rattles_per_std`` Gaussian rattles per standard deviation (angstrom, each with its own
    seed from one stream seeded by ``seed``) and one copy per strain along each lattice vector.
    """
    parent_ids = _with_ids(parents)
    seeds = SeedStream(seed)
    generators = [GaussianRattle(std_ang=tuple(rattle_std_ang), n_structures=rattles_per_std)]
    if uniaxial_strain:
        generators.append(Strain(uniaxial=tuple(uniaxial_strain)))
    good: list[Configuration] = []
    rejected: list[Rejected] = []
    for parent_id, parent in zip(parent_ids, parents, strict=True):
        for generator in generators:
            for item in gate(generator.generate(parent, parent_id=parent_id, seeds=seeds)):
                if isinstance(item, Rejected):
                    rejected.append(item)
                else:
                    good.append(item)
    return Candidates(pa.Table.from_batches([configurations_to_batch(good)]), tuple(rejected))


def read_pool(path: Path) -> Candidates:
    """Every row of the dataset at ``path`` as candidates, as stored."""
    return Candidates(Dataset.open(path).read())
