"""Parity plots in the style of the softening paper: predicted vs DFT, y = x, and the fitted slope line."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def parity_figure(
    path: Path,
    *,
    forces: tuple[np.ndarray, np.ndarray],
    energies_per_atom: tuple[np.ndarray, np.ndarray],
    stresses: tuple[np.ndarray, np.ndarray],
    slope: float | None,
    force_mae: float | None,
    force_cmae: float | None,
    title: str,
) -> Path:
    """Write a three-panel parity PNG (forces eV/A, energy eV/atom, stress GPa), each as (DFT, predicted) arrays.

    The force panel draws y = x (dashed) and y = slope * x (the softening fit) with slope, MAE and cMAE in the
    legend. Returns ``path``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.9), constrained_layout=True)
    panels = [
        (axes[0], forces, "DFT force component (eV/Å)", "predicted force component (eV/Å)", "forces"),
        (axes[1], energies_per_atom, "DFT energy (eV/atom)", "predicted energy (eV/atom)", "energy"),
        (axes[2], stresses, "DFT stress component (GPa)", "predicted stress component (GPa)", "stress"),
    ]
    for ax, (x, y), xlabel, ylabel, kind in panels:
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(kind)
        if len(x) == 0:
            ax.text(0.5, 0.5, "no labels", ha="center", va="center", transform=ax.transAxes)
            continue
        lo = float(min(np.min(x), np.min(y)))
        hi = float(max(np.max(x), np.max(y)))
        pad = 0.05 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
        ax.scatter(
            x,
            y,
            s=6 if len(x) > 500 else 16,
            alpha=0.35 if len(x) > 500 else 0.8,
            color="#1f77b4",
            edgecolors="none",
            rasterized=True,
        )
        ax.plot([lo, hi], [lo, hi], ls="--", color="black", lw=1.0, label="y = x")
        if kind == "forces" and slope is not None:
            label = f"fit y = {slope:.3f} x"
            if force_mae is not None:
                label += f"\nMAE = {force_mae:.3f} eV/Å"
            if force_cmae is not None:
                label += f"\ncMAE = {force_cmae:.3f} eV/Å"
            ax.plot([lo, hi], [slope * lo, slope * hi], color="#d62728", lw=1.6, label=label)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.legend(loc="upper left", frameon=False, fontsize=9)
    fig.suptitle(title, y=1.04)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path
