"""GGA(+U) vs r2SCAN pairs of one dataset: relaxed energies per material, their correlation and shifts.

Rows are paired by ``pair_id`` (``curate pull mp`` sets it to the material id), or by ``material_id`` for
rows without one. A material's relaxed energy per functional family (GGA = PBE and PBE+U, r2SCAN = r2SCAN
and r2SCAN+U) is the lowest energy per atom among its rows of that family: the end of a relaxation, or a
static on the relaxed structure. The per-element shift of element e is the mean, over the pairs whose
material contains e, of  E_r2SCAN/N - E_GGA/N  (eV/atom).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curate.dataset.store import Dataset
from curate.diagnostics.reference_energies import AtomRef, counts_of, fit_atomref

FAMILIES = {"PBE": "GGA", "PBE+U": "GGA", "r2SCAN": "r2SCAN", "r2SCAN+U": "r2SCAN"}
_COLUMNS = ["pair_id", "material_id", "functional", "energy", "species_at_sites", "chemical_formula_reduced"]


@dataclass(frozen=True)
class Pair:
    """One material computed with both families: relaxed energies per atom (eV/atom)."""

    key: str
    formula: str
    elements: tuple[str, ...]
    gga_functional: str
    gga_ev_per_atom: float
    r2scan_ev_per_atom: float

    @property
    def shift_ev_per_atom(self) -> float:
        return self.r2scan_ev_per_atom - self.gga_ev_per_atom


@dataclass
class PairReport:
    """Pairs, their Pearson correlation, mean and per-element shifts (eV/atom), and AtomRef per functional."""

    pairs: list[Pair]
    atomref: dict[str, AtomRef]
    unpaired: dict[str, int] = field(default_factory=dict)

    @property
    def pearson_r(self) -> float | None:
        """Pearson correlation of relaxed GGA(+U) and r2SCAN energies per atom (None below 2 pairs)."""
        if len(self.pairs) < 2:
            return None
        gga = np.array([p.gga_ev_per_atom for p in self.pairs])
        r2scan = np.array([p.r2scan_ev_per_atom for p in self.pairs])
        return float(np.corrcoef(gga, r2scan)[0, 1])

    @property
    def mean_shift_ev_per_atom(self) -> float | None:
        return float(np.mean([p.shift_ev_per_atom for p in self.pairs])) if self.pairs else None

    def element_shifts(self) -> dict[str, tuple[float, int]]:
        """Element -> (mean r2SCAN - GGA shift in eV/atom over pairs containing it, number of such pairs)."""
        shifts: dict[str, list[float]] = {}
        for pair in self.pairs:
            for element in pair.elements:
                shifts.setdefault(element, []).append(pair.shift_ev_per_atom)
        return {e: (float(np.mean(v)), len(v)) for e, v in sorted(shifts.items())}

    def as_manifest(self) -> dict[str, object]:
        """The ``reference_energies`` manifest section: AtomRef per functional and the pair summary."""
        from curate.diagnostics.reference_energies import METHOD

        return {
            "method": METHOD,
            "unit": "eV/atom",
            "functionals": {name: ref.as_dict() for name, ref in sorted(self.atomref.items())},
            "pairs": {
                "key": "pair_id (material_id when unset)",
                "num_pairs": len(self.pairs),
                "pearson_r": self.pearson_r,
                "mean_shift_ev_per_atom": self.mean_shift_ev_per_atom,
                "element_shifts_ev_per_atom": {e: s for e, (s, _) in self.element_shifts().items()},
            },
        }


def pair_report(dataset: Dataset) -> PairReport:
    """Relaxed-energy pairs and AtomRef fits (one per ``functional`` value) of ``dataset``, streamed."""
    lowest: dict[tuple[str, str], tuple[float, str, tuple[str, ...], str]] = {}
    fit_rows: dict[str, tuple[list[dict[str, int]], list[float]]] = {}
    for batch in dataset.iter_batches(columns=_COLUMNS, batch_rows=8192):
        for row in batch.to_pylist():
            if row["energy"] is None or row["functional"] is None:
                continue
            counts = counts_of(row["species_at_sites"])
            compositions, energies = fit_rows.setdefault(row["functional"], ([], []))
            compositions.append(counts)
            energies.append(row["energy"])
            family = FAMILIES.get(row["functional"])
            key = row["pair_id"] or row["material_id"]
            if family is None or key is None:
                continue
            per_atom = row["energy"] / len(row["species_at_sites"])
            known = lowest.get((key, family))
            if known is None or per_atom < known[0]:
                formula = row["chemical_formula_reduced"] or ""
                lowest[(key, family)] = (per_atom, formula, tuple(sorted(counts)), row["functional"])
    pairs = []
    unpaired = {"GGA": 0, "r2SCAN": 0}
    for (key, family), value in sorted(lowest.items()):
        other = lowest.get((key, "r2SCAN" if family == "GGA" else "GGA"))
        if other is None:
            unpaired[family] += 1
        elif family == "GGA":
            pairs.append(Pair(key, value[1], value[2], value[3], value[0], other[0]))
    atomref = {name: fit_atomref(c, e) for name, (c, e) in fit_rows.items()}
    return PairReport(pairs, atomref, unpaired)


def plot_pairs(report: PairReport, path: Path) -> Path:
    """Scatter of relaxed r2SCAN vs GGA(+U) energy per atom with the y = x line; writes a PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gga = np.array([p.gga_ev_per_atom for p in report.pairs])
    r2scan = np.array([p.r2scan_ev_per_atom for p in report.pairs])
    plus_u = np.array([p.gga_functional.endswith("+U") for p in report.pairs], dtype=bool)
    fig, ax = plt.subplots(figsize=(5.5, 5.0), dpi=120)
    low, high = float(min(gga.min(), r2scan.min())), float(max(gga.max(), r2scan.max()))
    pad = 0.05 * (high - low or 1.0)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="0.5", lw=1, ls="--", label="y = x")
    ax.scatter(gga[~plus_u], r2scan[~plus_u], s=14, label="GGA (PBE)")
    if plus_u.any():
        ax.scatter(gga[plus_u], r2scan[plus_u], s=14, marker="^", label="GGA+U")
    ax.set_xlabel("GGA(+U) relaxed energy (eV/atom)")
    ax.set_ylabel("r2SCAN relaxed energy (eV/atom)")
    r = report.pearson_r
    shift = report.mean_shift_ev_per_atom
    ax.set_title(f"{len(report.pairs)} materials, Pearson r = {r:.4f}, mean shift {shift:+.3f} eV/atom", fontsize=9)
    ax.set_aspect("equal")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
