"""Counts and label distributions of a release, collected while its shards are written (one pass)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.checks.summary import DatasetSummary

NEAR_EQUILIBRIUM_EV_PER_ANG = 0.05
"""Per-atom force below which an atom counts as relaxed (the usual MP relaxation convergence, 0.05 eV/A)."""


@dataclass
class ConfigStats:
    """Label distributions of one config (a functional).

    Attributes:
        energy_per_atom_ev: energy / nsites of every labelled row, eV/atom.
        force_norms_ev_per_ang: |F| of every atom of every row with forces, eV/A.
        max_force_ev_per_ang: max_i |F_i| of every row with forces, eV/A.
    """

    energy_per_atom_ev: list[np.ndarray] = field(default_factory=list)
    force_norms_ev_per_ang: list[np.ndarray] = field(default_factory=list)
    max_force_ev_per_ang: list[np.ndarray] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(energy per atom in eV/atom, per-atom |F| in eV/A, per-structure max |F| in eV/A), concatenated."""

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0)

        return cat(self.energy_per_atom_ev), cat(self.force_norms_ev_per_ang), cat(self.max_force_ev_per_ang)


@dataclass
class ReleaseStats:
    """Everything the card counts: rows per config and split, elements per split, generators, labels."""

    rows: Counter = field(default_factory=Counter)  # (config, split) -> rows
    atoms: Counter = field(default_factory=Counter)  # (config, split) -> atoms
    element_rows: Counter = field(default_factory=Counter)  # (element, split) -> rows containing it
    by_generator: Counter = field(default_factory=Counter)  # (generator, config) -> rows
    generator_params: dict[str, Counter[str]] = field(default_factory=dict)  # generator -> params JSON -> rows
    generator_parents: dict[str, set[str]] = field(default_factory=dict)  # generator -> parent ids
    generator_seeds: dict[str, set[int]] = field(default_factory=dict)  # generator -> seeds
    by_source: Counter = field(default_factory=Counter)  # source -> rows
    labels: dict[str, ConfigStats] = field(default_factory=dict)  # config -> label distributions

    def add(self, batch: pa.RecordBatch, *, config: str, split: str) -> None:
        """Count one batch whose rows all belong to ``config`` and ``split``."""
        self.rows[(config, split)] += batch.num_rows
        nsites = batch.column("nsites").to_numpy(zero_copy_only=False).astype(np.float64)
        self.atoms[(config, split)] += int(nsites.sum())
        for elements in batch.column("elements").to_pylist():
            for element in elements:
                self.element_rows[(element, split)] += 1
        for item in pc.value_counts(batch.column("source")).to_pylist():
            self.by_source[str(item["values"])] += int(item["counts"])
        for generator, params, parent, seed in zip(
            batch.column("generator").to_pylist(),
            batch.column("generator_params").to_pylist(),
            batch.column("parent_id").to_pylist(),
            batch.column("seed").to_pylist(),
            strict=True,
        ):
            if generator is None:
                continue
            self.by_generator[(generator, config)] += 1
            self.generator_params.setdefault(generator, Counter())[params or ""] += 1
            if parent is not None:
                self.generator_parents.setdefault(generator, set()).add(parent)
            if seed is not None:
                self.generator_seeds.setdefault(generator, set()).add(int(seed))
        labels = self.labels.setdefault(config, ConfigStats())
        energy = batch.column("energy").to_numpy(zero_copy_only=False).astype(np.float64)
        labelled = ~np.isnan(energy)
        labels.energy_per_atom_ev.append(energy[labelled] / nsites[labelled])
        forces = batch.column("forces")
        if forces.null_count < len(forces):
            with_forces = forces.drop_null()
            counts = pc.list_value_length(with_forces).to_numpy(zero_copy_only=False)
            flat = pc.list_flatten(pc.list_flatten(with_forces)).to_numpy(zero_copy_only=False).reshape(-1, 3)
            norms = np.linalg.norm(flat, axis=1)
            labels.force_norms_ev_per_ang.append(norms)
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
            nonempty = counts > 0
            labels.max_force_ev_per_ang.append(np.maximum.reduceat(norms, starts[nonempty]) if norms.size else norms)

    @property
    def configs(self) -> list[str]:
        return sorted({config for config, _ in self.rows})

    def split_rows(self) -> dict[str, int]:
        """Rows per split over all configs."""
        out: Counter = Counter()
        for (_, split), n in self.rows.items():
            out[split] += n
        return dict(out)

    def summary(self, configs: list[str] | None = None) -> DatasetSummary:
        """A :class:`curate.checks.summary.DatasetSummary` over ``configs`` (all by default), for its plots."""
        chosen = self.configs if configs is None else configs
        summary = DatasetSummary()
        energies, norms = [], []
        for config in chosen:
            e, f, _ = self.labels[config].arrays()
            energies.append(e)
            norms.append(f)
            summary.rows += sum(n for (c, _), n in self.rows.items() if c == config)
            summary.atoms += sum(n for (c, _), n in self.atoms.items() if c == config)
        summary.energy_per_atom_ev = np.concatenate(energies) if energies else np.zeros(0)
        summary.force_norms_ev_per_ang = np.concatenate(norms) if norms else np.zeros(0)
        return summary


def force_bias_metrics(norms: np.ndarray, max_per_structure: np.ndarray) -> dict[str, float]:
    """How near equilibrium the data sit: quantiles of |F| and shares of relaxed atoms and structures.

    Args:
        norms: per-atom force norms |F_i|, eV/A, shape (n_atoms,).
        max_per_structure: max_i |F_i| per structure, eV/A, shape (n_structures,).

    Returns:
        ``median``, ``p95``, ``max`` (eV/A), ``mean`` (eV/A), ``atoms_below`` (share of atoms with
        |F| < 0.05 eV/A) and ``structures_below`` (share of structures whose largest |F| < 0.05 eV/A); empty
        when there are no forces.
    """
    if norms.size == 0:
        return {}
    median, p95 = np.quantile(norms, [0.5, 0.95])
    return {
        "median": float(median),
        "p95": float(p95),
        "max": float(norms.max()),
        "mean": float(norms.mean()),
        "atoms_below": float(np.mean(norms < NEAR_EQUILIBRIUM_EV_PER_ANG)),
        "structures_below": float(np.mean(max_per_structure < NEAR_EQUILIBRIUM_EV_PER_ANG)),
    }
