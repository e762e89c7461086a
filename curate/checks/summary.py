"""``curate info``: counts and label distributions of a dataset, streamed shard by shard."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.dataset.store import Dataset

QUANTILES = (0.0, 0.05, 0.5, 0.95, 1.0)


@dataclass
class DatasetSummary:
    """Counts by functional, source and element, and the label arrays needed for distributions.

    Attributes:
        energy_per_atom_ev: energy / nsites of every labelled row, eV/atom.
        force_norms_ev_per_ang: |F| of every atom of every labelled row, eV/A.
    """

    rows: int = 0
    atoms: int = 0
    by_functional: Counter = field(default_factory=Counter)
    by_source: Counter = field(default_factory=Counter)
    by_element: Counter = field(default_factory=Counter)
    energy_per_atom_ev: np.ndarray = field(default_factory=lambda: np.zeros(0))
    force_norms_ev_per_ang: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def quantiles(self, values: np.ndarray) -> dict[str, float]:
        """min, 5 %, median, 95 %, max of ``values`` (empty dict when there are none)."""
        if values.size == 0:
            return {}
        names = ("min", "p05", "median", "p95", "max")
        return {n: float(q) for n, q in zip(names, np.quantile(values, QUANTILES), strict=True)}


def _count_strings(counter: Counter, column: pa.Array) -> None:
    for item in pc.value_counts(column).to_pylist():
        counter[str(item["values"])] += int(item["counts"])


def summarize(dataset: Dataset) -> DatasetSummary:
    """Stream the dataset once and collect counts and label distributions."""
    summary = DatasetSummary()
    energies: list[np.ndarray] = []
    norms: list[np.ndarray] = []
    columns = ["functional", "source", "elements", "nsites", "energy", "forces"]
    for batch in dataset.iter_batches(columns=columns, batch_rows=8192):
        summary.rows += batch.num_rows
        nsites = batch.column("nsites").to_numpy(zero_copy_only=False).astype(np.float64)
        summary.atoms += int(nsites.sum())
        _count_strings(summary.by_functional, batch.column("functional").fill_null("unlabelled"))
        _count_strings(summary.by_source, batch.column("source"))
        _count_strings(summary.by_element, pc.list_flatten(batch.column("elements")))
        energy = batch.column("energy").to_numpy(zero_copy_only=False).astype(np.float64)
        labelled = ~np.isnan(energy)
        energies.append(energy[labelled] / nsites[labelled])
        forces = batch.column("forces")
        if forces.null_count < len(forces):
            flat = pc.list_flatten(pc.list_flatten(forces.drop_null()))
            norms.append(np.linalg.norm(flat.to_numpy(zero_copy_only=False).reshape(-1, 3), axis=1))
    summary.energy_per_atom_ev = np.concatenate(energies) if energies else np.zeros(0)
    summary.force_norms_ev_per_ang = np.concatenate(norms) if norms else np.zeros(0)
    return summary


def plot_summary(summary: DatasetSummary, path: Path, *, title: str) -> None:
    """Two histograms (energy per atom, per-atom force norm on a log axis) written as PNG."""
    from curate.plotting import PNG_METADATA, default_style

    with default_style() as plt:
        _draw_summary(plt, summary, path, title=title, metadata=PNG_METADATA)


def _draw_summary(plt: Any, summary: DatasetSummary, path: Path, *, title: str, metadata: dict[str, Any]) -> None:
    fig, (ax_e, ax_f) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    if summary.energy_per_atom_ev.size:
        ax_e.hist(summary.energy_per_atom_ev, bins=60, color="#3b6ea8")
    ax_e.set_xlabel("energy per atom (eV/atom)")
    ax_e.set_ylabel("structures")
    norms = summary.force_norms_ev_per_ang
    if norms.size:
        positive = norms[norms > 0]
        low = max(float(positive.min()) if positive.size else 1e-4, 1e-4)
        bins = np.logspace(np.log10(low), np.log10(max(float(norms.max()), low * 10)), 60)
        ax_f.hist(np.clip(norms, low, None), bins=bins, color="#c0504d")
        ax_f.set_xscale("log")
    ax_f.set_xlabel("|F| per atom (eV/Å)")
    ax_f.set_ylabel("atoms")
    fig.suptitle(title)
    fig.savefig(path, dpi=120, metadata=metadata)
    plt.close(fig)
