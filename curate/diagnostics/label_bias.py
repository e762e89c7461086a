"""Label-space bias: how close to equilibrium a dataset's labels sit.

Three distributions, streamed over the dataset's shards:

* force norm ``|F_i|`` of every atom, eV/angstrom (fixed log-spaced bins, exact counts below thresholds);
* energy above the group's lowest frame, ``E/N - min_group(E/N)``, eV/atom;
* volumetric strain relative to the group's relaxed cell, ``(V/N) / (V0/N0) - 1``, dimensionless, where the
  *relaxed cell* is the cell of the group's lowest-energy-per-atom frame (per atom, so supercells compare).

A group is one material computed with one functional: ``(material_id, functional)``, falling back to the
reduced formula when ``material_id`` is null, because energies of two functionals are not on one scale.
Rows without an energy are counted and left out of the energy and strain distributions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.dataset.store import Dataset

LABEL_COLUMNS = [
    "material_id",
    "chemical_formula_reduced",
    "functional",
    "energy",
    "nsites",
    "lattice_vectors",
    "forces",
]
FORCE_EDGES_EV_PER_ANG = np.concatenate([[0.0], np.geomspace(1e-3, 1e2, 61)])
ENERGY_EDGES_EV_PER_ATOM = np.concatenate([[0.0], np.geomspace(1e-4, 10.0, 51)])
STRAIN_EDGES = np.linspace(-0.3, 0.3, 61)
FORCE_THRESHOLDS_EV_PER_ANG = (0.01, 0.05, 0.1, 0.5, 1.0)


@dataclass
class LabelStats:
    """Label distributions of one dataset.

    Attributes:
        force_counts: atoms per FORCE_EDGES_EV_PER_ANG bin; the last bin also holds norms above the top edge.
        force_below: threshold (eV/angstrom) -> share of atoms with a force norm below it.
        force_mean, force_max: eV/angstrom, over all atoms with forces.
        n_atoms_with_forces, n_rows, n_rows_with_energy: counts.
        energy_above_min: per row with an energy, eV/atom, shape (n_rows_with_energy,).
        volumetric_strain: per row with an energy, dimensionless, same order.
        n_groups: groups (material and functional) with at least one energy.
    """

    force_counts: np.ndarray
    force_below: dict[float, float]
    force_mean: float
    force_max: float
    n_atoms_with_forces: int
    n_rows: int
    n_rows_with_energy: int
    energy_above_min: np.ndarray
    volumetric_strain: np.ndarray
    n_groups: int

    def summary(self) -> dict:
        """JSON-ready numbers (quantiles, shares, histograms with their edges)."""
        return {
            "rows": self.n_rows,
            "rows_with_energy": self.n_rows_with_energy,
            "groups": self.n_groups,
            "force_norm_ev_per_ang": {
                "atoms": self.n_atoms_with_forces,
                "mean": self.force_mean,
                "max": self.force_max,
                "median_from_histogram": _histogram_quantile(self.force_counts, FORCE_EDGES_EV_PER_ANG, 0.5),
                "share_below": {f"{t:g}": v for t, v in self.force_below.items()},
                "histogram": {"edges": FORCE_EDGES_EV_PER_ANG.tolist(), "counts": self.force_counts.tolist()},
            },
            "energy_above_lowest_frame_ev_per_atom": _distribution(self.energy_above_min, ENERGY_EDGES_EV_PER_ATOM),
            "volumetric_strain_vs_relaxed_cell": _distribution(self.volumetric_strain, STRAIN_EDGES),
        }


def label_statistics(dataset: Dataset, *, batch_rows: int = 4096) -> LabelStats:
    """Stream ``dataset`` once and collect its label distributions (memory: a few floats per row)."""
    force_counts = np.zeros(len(FORCE_EDGES_EV_PER_ANG) - 1, dtype=np.int64)
    below = np.zeros(len(FORCE_THRESHOLDS_EV_PER_ANG), dtype=np.int64)
    force_sum, force_max, n_force = 0.0, 0.0, 0
    group_codes: dict[tuple[str, str], int] = {}
    groups, energies, volumes = [], [], []
    n_rows = 0
    for batch in dataset.iter_batches(columns=LABEL_COLUMNS, batch_rows=batch_rows):
        n_rows += batch.num_rows
        norms = _force_norms(batch.column("forces"))
        if len(norms):
            clipped = np.minimum(norms, FORCE_EDGES_EV_PER_ANG[-1] * (1 - 1e-12))
            force_counts += np.histogram(clipped, bins=FORCE_EDGES_EV_PER_ANG)[0]
            below += (norms[:, None] < np.asarray(FORCE_THRESHOLDS_EV_PER_ANG)).sum(axis=0)
            force_sum += float(norms.sum())
            force_max = max(force_max, float(norms.max()))
            n_force += len(norms)
        has_energy = pc.is_valid(batch.column("energy")).to_numpy(zero_copy_only=False)
        if not has_energy.any():
            continue
        subset = batch.filter(pa.array(has_energy))
        nsites = subset.column("nsites").to_numpy().astype(np.float64)
        energies.append(subset.column("energy").to_numpy() / nsites)
        cells = subset.column("lattice_vectors").flatten().flatten().to_numpy().reshape(-1, 3, 3)
        volumes.append(np.abs(np.linalg.det(cells)) / nsites)
        keys = zip(
            subset.column("material_id").to_pylist(),
            subset.column("chemical_formula_reduced").to_pylist(),
            subset.column("functional").to_pylist(),
            strict=True,
        )
        groups.append(
            np.array(
                [group_codes.setdefault((m or f"formula:{f}", fn or "-"), len(group_codes)) for m, f, fn in keys],
                dtype=np.int64,
            )
        )
    energy = np.concatenate(energies) if energies else np.zeros(0)
    volume = np.concatenate(volumes) if volumes else np.zeros(0)
    group = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
    energy_above, strain = _relative_to_lowest_frame(energy, volume, group, len(group_codes))
    return LabelStats(
        force_counts=force_counts,
        force_below={
            t: (float(c) / n_force if n_force else float("nan"))
            for t, c in zip(FORCE_THRESHOLDS_EV_PER_ANG, below, strict=True)
        },
        force_mean=force_sum / n_force if n_force else float("nan"),
        force_max=force_max if n_force else float("nan"),
        n_atoms_with_forces=n_force,
        n_rows=n_rows,
        n_rows_with_energy=len(energy),
        energy_above_min=energy_above,
        volumetric_strain=strain,
        n_groups=len(group_codes),
    )


def _relative_to_lowest_frame(
    energy: np.ndarray, volume: np.ndarray, group: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """(E/N - min_g E/N, V/N / V0/N - 1) per row, V0 the volume per atom of the group's lowest-energy row."""
    if len(energy) == 0:
        return np.zeros(0), np.zeros(0)
    order = np.lexsort((energy, group))  # by group, then energy: the first row of each group is its minimum
    first = np.ones(len(order), dtype=bool)
    first[1:] = group[order][1:] != group[order][:-1]
    lowest_row = np.empty(n_groups, dtype=np.int64)
    lowest_row[group[order][first]] = order[first]
    e_min = energy[lowest_row][group]
    v_relaxed = volume[lowest_row][group]
    return energy - e_min, volume / v_relaxed - 1.0


def _force_norms(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    values = column.flatten().flatten().to_numpy(zero_copy_only=False)  # nulls are skipped by flatten
    return np.linalg.norm(values.reshape(-1, 3), axis=1)


def _histogram_quantile(counts: np.ndarray, edges: np.ndarray, q: float) -> float:
    """Quantile ``q`` read off a histogram (linear inside the bin); NaN when empty."""
    total = counts.sum()
    if total == 0:
        return float("nan")
    cumulative = np.cumsum(counts) / total
    k = int(np.searchsorted(cumulative, q))
    before = cumulative[k - 1] if k else 0.0
    inside = (q - before) / max(cumulative[k] - before, 1e-300)
    return float(edges[k] + inside * (edges[k + 1] - edges[k]))


def _distribution(values: np.ndarray, edges: np.ndarray) -> dict:
    if len(values) == 0:
        return {"rows": 0}
    clipped = np.clip(values, edges[0], edges[-1])
    return {
        "rows": len(values),
        "mean": float(values.mean()),
        "quantiles": {
            f"{q:g}": float(v)
            for q, v in zip((0.1, 0.5, 0.9, 0.99), np.quantile(values, [0.1, 0.5, 0.9, 0.99]), strict=True)
        },
        "min": float(values.min()),
        "max": float(values.max()),
        "histogram": {"edges": edges.tolist(), "counts": np.histogram(clipped, bins=edges)[0].tolist()},
    }
