"""Candidate pools: the built-in offline default (seeds from ASE's builders, rattled and strained), or a dataset."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

from curate.checks.quality import gate
from curate.dataset.configuration import Configuration, Rejected, batch_to_configurations, configurations_to_batch
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
    """Candidate rows with their ids, and the parents they came from (for the output's provenance)."""

    ids: list[str]
    configurations: list[Configuration]
    rejected: list[Rejected]
    parents: list[tuple[str, Configuration]]


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
    return Candidates(_with_ids(good), good, rejected, list(zip(parent_ids, parents, strict=True)))


def read_pool(path: Path) -> Candidates:
    """Every row of the dataset at ``path`` as candidates (ids as stored)."""
    ids: list[str] = []
    configurations: list[Configuration] = []
    for batch in Dataset.open(path).iter_batches():
        ids += batch.column("id").to_pylist()
        configurations += batch_to_configurations(batch)
    return Candidates(ids, configurations, [], [])


def iter_rows(candidates: Candidates, indices: Sequence[int]) -> Iterator[tuple[str, Configuration]]:
    """(id, configuration) of the chosen candidates, in the given order."""
    for index in indices:
        yield candidates.ids[index], candidates.configurations[index]
