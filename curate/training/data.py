"""Labelled structures for training and evaluation, read from a curate dataset, and seeded splits.

A :class:`TrainingSet` is an ordered list of configurations that all carry an energy (eV) and forces
(eV/angstrom); stress (GPa, ASE sign) is optional per structure (missing stress does not enter the stress
loss). Rows without energy or forces are refused with their id, file and record, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from curate.dataset.configuration import Configuration, batch_to_configurations, geometry_hash, reduced_formula
from curate.dataset.material import material_groups
from curate.dataset.split import assign_groups
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError, InputError


@dataclass(frozen=True)
class TrainingSet:
    """Labelled configurations in a fixed order, with where they came from.

    Attributes:
        configurations: every one has ``energy`` and ``forces``; ``stress`` may be None.
        ids: the dataset row id of each configuration (same order).
        origin: dataset folder or description, for provenance.
        content_hash: content hash of the source dataset ('' when built in memory).
        loss_weights: per structure, the multipliers (energy, force, stress) of its loss terms on top of the
            settings' weights (replay structures, see :mod:`curate.training.replay`); None: all 1.
    """

    configurations: tuple[Configuration, ...]
    ids: tuple[str, ...]
    origin: str
    content_hash: str = ""
    loss_weights: tuple[tuple[float, float, float], ...] | None = None

    def __post_init__(self) -> None:
        if len(self.configurations) != len(self.ids):
            raise ValueError(f"{len(self.configurations)} configurations but {len(self.ids)} ids")
        if self.loss_weights is not None and len(self.loss_weights) != len(self.ids):
            raise ValueError(f"{len(self.loss_weights)} loss weights for {len(self.ids)} structures")
        for cfg, row_id in zip(self.configurations, self.ids, strict=True):
            check_labelled(cfg, row_id=row_id, origin=self.origin)

    def __len__(self) -> int:
        return len(self.configurations)

    def __iter__(self) -> Iterator[Configuration]:
        return iter(self.configurations)

    @property
    def num_atoms(self) -> int:
        """Atoms over all structures."""
        return sum(c.nsites for c in self.configurations)

    @property
    def has_stress(self) -> bool:
        """True when every structure has a stress label."""
        return all(c.stress is not None for c in self.configurations)

    @property
    def weighted(self) -> bool:
        """True when some structure's loss terms carry a multiplier other than 1."""
        return self.loss_weights is not None and any(w != (1.0, 1.0, 1.0) for w in self.loss_weights)

    def weights_of(self, index: int) -> tuple[float, float, float]:
        """The (energy, force, stress) loss multipliers of structure ``index``."""
        return (1.0, 1.0, 1.0) if self.loss_weights is None else self.loss_weights[index]

    def subset(self, indices: Sequence[int], *, origin: str | None = None) -> TrainingSet:
        """The structures at ``indices`` (in that order)."""
        return TrainingSet(
            tuple(self.configurations[i] for i in indices),
            tuple(self.ids[i] for i in indices),
            origin or f"{self.origin}[{len(indices)} of {len(self)}]",
            self.content_hash,
            None if self.loss_weights is None else tuple(self.loss_weights[i] for i in indices),
        )

    def describe(self) -> dict[str, object]:
        """Provenance for training.json: origin, content hash, structures, atoms."""
        return {
            "origin": self.origin,
            "content_hash": self.content_hash,
            "structures": len(self),
            "atoms": self.num_atoms,
        }


def check_labelled(cfg: Configuration, *, row_id: str, origin: str) -> None:
    """Raise InputError naming the row when energy or forces are missing or not finite, or shapes are wrong."""
    where = {"file": cfg.source_file or origin, "record": cfg.source_record or row_id}
    if cfg.energy is None or not np.isfinite(cfg.energy):
        raise InputError(f"row {row_id} has no finite energy; training needs energy labels", field="energy", **where)
    if cfg.forces is None:
        raise InputError(f"row {row_id} has no forces; training needs force labels", field="forces", **where)
    forces = np.asarray(cfg.forces)
    if forces.shape != (cfg.nsites, 3) or not np.all(np.isfinite(forces)):
        raise InputError(
            f"row {row_id}: forces must be finite with shape ({cfg.nsites}, 3), found shape {forces.shape}",
            field="forces",
            **where,
        )
    if cfg.stress is not None and (np.asarray(cfg.stress).shape != (3, 3) or not np.all(np.isfinite(cfg.stress))):
        raise InputError(f"row {row_id}: stress must be a finite 3x3 tensor (GPa)", field="stress", **where)


def label_energy(cfg: Configuration) -> float:
    """The energy label of a configuration of a :class:`TrainingSet` (checked finite there), eV."""
    if cfg.energy is None:
        raise ValueError("a configuration without an energy label is not a training structure")
    return float(cfg.energy)


def load_training_set(path: str | Path, *, batch_rows: int = 1024) -> TrainingSet:
    """Every row of the dataset at ``path`` as a TrainingSet, in dataset order.

    Raises:
        DatasetError: ``path`` is not a curate dataset.
        InputError: a row lacks energy or forces (names the row, file and record).
        ConfigurationError: the dataset is empty.
    """
    dataset = Dataset.open(path)
    configurations: list[Configuration] = []
    ids: list[str] = []
    for batch in dataset.iter_batches(batch_rows=batch_rows):
        configurations.extend(batch_to_configurations(batch))
        ids.extend(batch.column("id").to_pylist())
    if not configurations:
        raise ConfigurationError(f"{path}: the dataset has no rows to train or evaluate on")
    return TrainingSet(tuple(configurations), tuple(ids), str(Path(path)), dataset.content_hash)


def material_names(items: TrainingSet) -> list[str]:
    """The material of each structure by curate's one definition (:mod:`curate.dataset.material`): its group name."""
    configurations = items.configurations
    table = pa.table(
        {
            "id": list(items.ids),
            "material_id": [c.material_id for c in configurations],
            "task_id": [c.task_id for c in configurations],
            "geometry_hash": [geometry_hash(c) for c in configurations],
            "pair_id": [c.pair_id for c in configurations],
            "parent_id": [c.parent_id for c in configurations],
            "chemical_formula_reduced": [reduced_formula(c.species) for c in configurations],
        }
    )
    groups = material_groups([table])
    return [groups.name_of_row(row_id) for row_id in items.ids]


def split_by_group(items: TrainingSet, fractions: Sequence[float], *, seed: int) -> list[list[int]]:
    """Seeded split of structure indices into parts by material, so no material is in two parts.

    The one seeded split (:func:`curate.dataset.split.assign_groups`, every part with a non-zero share filled)
    over the materials of :func:`material_names`. Indices within a part keep dataset order.

    Args:
        items: the structures to split.
        fractions: target share of structures per part, e.g. (0.8, 0.1, 0.1); normalised to sum 1.
        seed: the seed of the group order (record it).

    Raises:
        ConfigurationError: fewer materials than parts with a non-zero fraction, or a negative fraction.
    """
    names = material_names(items)
    group_rows: dict[str, int] = {}
    for name in names:
        group_rows[name] = group_rows.get(name, 0) + 1
    try:
        part_of, _ = assign_groups(group_rows, fractions, seed=seed, every_part_filled=True)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{items.origin}: {exc}") from None
    parts: list[list[int]] = [[] for _ in fractions]
    for index, name in enumerate(names):
        parts[part_of[name]].append(index)
    return parts


def random_subsets(pool_size: int, size: int, repeats: int, *, seed: int) -> list[list[int]]:
    """``repeats`` random subsets of ``size`` distinct indices of range(pool_size), seeded, sorted.

    Raises ConfigurationError when ``size`` exceeds ``pool_size``.
    """
    if size > pool_size:
        raise ConfigurationError(f"cannot draw {size} structures from a pool of {pool_size}")
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(pool_size, size=size, replace=False).tolist()) for _ in range(repeats)]
