"""Labelled structures for training and evaluation, read from a curate dataset, and seeded splits.

A :class:`TrainingSet` is an ordered list of configurations that all carry an energy (eV) and forces
(eV/angstrom); stress (GPa, ASE sign) is optional per structure (missing stress does not enter the stress
loss). Rows without energy or forces are refused with their id, file and record, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.dataset.configuration import Configuration, batch_to_configurations
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
    """

    configurations: tuple[Configuration, ...]
    ids: tuple[str, ...]
    origin: str
    content_hash: str = ""

    def __post_init__(self) -> None:
        if len(self.configurations) != len(self.ids):
            raise ValueError(f"{len(self.configurations)} configurations but {len(self.ids)} ids")
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

    def subset(self, indices: Sequence[int], *, origin: str | None = None) -> TrainingSet:
        """The structures at ``indices`` (in that order)."""
        return TrainingSet(
            tuple(self.configurations[i] for i in indices),
            tuple(self.ids[i] for i in indices),
            origin or f"{self.origin}[{len(indices)} of {len(self)}]",
            self.content_hash,
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


def material_key(cfg: Configuration) -> str:
    """The material a structure belongs to: its material_id, else its reduced formula (never per frame)."""
    if cfg.material_id:
        return str(cfg.material_id)
    from pymatgen.core import Composition

    counts: dict[str, int] = {}
    for symbol in cfg.species:
        counts[symbol] = counts.get(symbol, 0) + 1
    return Composition(counts).reduced_formula


def split_by_group(
    items: TrainingSet,
    fractions: Sequence[float],
    *,
    seed: int,
    key: Callable[[Configuration], str] = material_key,
) -> list[list[int]]:
    """Seeded split of structure indices into parts by group, so no group is in two parts.

    Groups (materials by default) are shuffled with ``numpy.random.default_rng(seed)`` and dealt into parts
    in turn to whichever part is furthest below its target share of structures. Indices within a part keep
    dataset order.

    Args:
        items: the structures to split.
        fractions: target share of structures per part, e.g. (0.8, 0.1, 0.1); normalised to sum 1.
        seed: the shuffling seed (record it).
        key: the group of a configuration.

    Raises:
        ConfigurationError: fewer groups than parts with a non-zero fraction, or a negative fraction.
    """
    if any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ConfigurationError(f"split fractions must be >= 0 with a positive sum, got {list(fractions)}")
    shares = np.asarray(fractions, dtype=float) / float(sum(fractions))
    groups: dict[str, list[int]] = {}
    for i, cfg in enumerate(items.configurations):
        groups.setdefault(key(cfg), []).append(i)
    names = sorted(groups)
    wanted = int(np.count_nonzero(shares))
    if len(names) < wanted:
        raise ConfigurationError(
            f"{items.origin}: {len(names)} group(s) cannot fill {wanted} split parts without a group in two parts"
        )
    order = np.random.default_rng(seed).permutation(len(names))
    parts: list[list[int]] = [[] for _ in shares]
    filled = np.zeros(len(shares))
    total = len(items)
    # every part with a non-zero share gets one group first, so no part is empty
    queue = [names[i] for i in order]
    for p in np.argsort(-shares)[:wanted]:
        members = groups[queue.pop(0)]
        parts[p].extend(members)
        filled[p] += len(members)
    for name in queue:
        deficit = shares * total - filled
        deficit[shares == 0] = -np.inf
        p = int(np.argmax(deficit))
        parts[p].extend(groups[name])
        filled[p] += len(groups[name])
    return [sorted(part) for part in parts]


def random_subsets(pool_size: int, size: int, repeats: int, *, seed: int) -> list[list[int]]:
    """``repeats`` random subsets of ``size`` distinct indices of range(pool_size), seeded, sorted.

    Raises ConfigurationError when ``size`` exceeds ``pool_size``.
    """
    if size > pool_size:
        raise ConfigurationError(f"cannot draw {size} structures from a pool of {pool_size}")
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(pool_size, size=size, replace=False).tolist()) for _ in range(repeats)]
