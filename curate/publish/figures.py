"""Plots of a release's label distributions, written as PNG next to the card (``figures/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from curate.checks.summary import plot_summary
from curate.plotting import PNG_METADATA
from curate.publish.stats import NEAR_EQUILIBRIUM_EV_PER_ANG, ReleaseStats

DISTRIBUTIONS_PNG = "figures/energy_force_distributions.png"
FORCE_CDF_PNG = "figures/force_norm_cdf.png"


def plot_force_cdf(stats: ReleaseStats, path: Path) -> None:
    """Cumulative share of atoms with |F| <= x (x in eV/A, log axis), one line per config, the 0.05 eV/A
    relaxation threshold marked: a curve that rises early means data clustered near equilibrium."""
    from curate.plotting import default_style

    with default_style() as plt:
        _draw_force_cdf(plt, stats, path)


def _draw_force_cdf(plt: Any, stats: ReleaseStats, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), constrained_layout=True)
    for config in stats.configs:
        _, norms, _ = stats.labels[config].arrays()
        if norms.size == 0:
            continue
        x = np.sort(np.clip(norms, 1e-4, None))
        y = np.arange(1, x.size + 1) / x.size
        ax.step(x, y, where="post", label=f"{config} ({x.size} atoms)")
    ax.axvline(NEAR_EQUILIBRIUM_EV_PER_ANG, color="grey", linestyle="--", linewidth=1)
    ax.text(NEAR_EQUILIBRIUM_EV_PER_ANG * 1.1, 0.02, f"{NEAR_EQUILIBRIUM_EV_PER_ANG} eV/Å", color="grey")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, None)
    ax.set_ylim(0, 1)
    ax.set_xlabel("|F| per atom (eV/Å)")
    ax.set_ylabel("share of atoms with smaller |F|")
    ax.legend(loc="lower right", fontsize=8)
    fig.savefig(path, dpi=110, metadata=PNG_METADATA)
    plt.close(fig)


def write_figures(stats: ReleaseStats, root: Path, *, title: str) -> list[str]:
    """Write the release plots under ``root/figures``; returns their paths relative to ``root``."""
    (root / "figures").mkdir(parents=True, exist_ok=True)
    plot_summary(stats.summary(), root / DISTRIBUTIONS_PNG, title=title)
    plot_force_cdf(stats, root / FORCE_CDF_PNG)
    return [DISTRIBUTIONS_PNG, FORCE_CDF_PNG]
