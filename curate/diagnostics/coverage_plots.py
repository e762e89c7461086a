"""PNG figures of a coverage report: coverage curve and novelty, and overlaid label-space histograms."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

REFERENCE_STYLE = {"color": "#1f77b4", "label": "reference"}
TARGET_STYLE = {"color": "#d62728", "label": "target"}


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _overlay(ax: Axes, edges: list[float], reference: list[int], target: list[int], *, log_x: bool) -> None:
    """Two step histograms normalised to shares, so datasets of different size compare."""
    edges_arr = np.asarray(edges, dtype=float)
    for counts, style in ((reference, REFERENCE_STYLE), (target, TARGET_STYLE)):
        counts_arr = np.asarray(counts, dtype=float)
        total = counts_arr.sum()
        share = counts_arr / total if total else counts_arr
        if log_x:
            edges_plot = edges_arr.copy()
            edges_plot[0] = edges_arr[1] / 2  # the [0, first) bin drawn just left of the log axis start
        else:
            edges_plot = edges_arr
        filled = style is REFERENCE_STYLE  # reference filled, target outlined: both stay visible when equal
        alpha = 0.35 if filled else 1.0
        color, label = style["color"], style["label"]
        ax.stairs(share, edges_plot, linewidth=1.5, fill=filled, alpha=alpha, color=color, label=label)
    if log_x:
        ax.set_xscale("log")
    ax.set_ylabel("share")
    ax.legend(frameon=False)


def plot_coverage(report: dict[str, Any], path: Path) -> None:
    """Coverage curve (share of target environments within radius) and the novelty histograms."""
    plt = _pyplot()
    cov = report["coverage"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    radii = [p["radius"] for p in cov["curve"]]
    left.plot(radii, [p["coverage"] for p in cov["curve"]], "o-", color=TARGET_STYLE["color"])
    left.axvline(cov["radius"], color="0.5", linestyle=":", label=f"radius {cov['radius']:g}")
    positive = [r for r in radii if r > 0]
    if positive:  # radii span decades; symlog keeps radius 0 on the axis
        left.set_xscale("symlog", linthresh=min(positive))
        left.set_xlim(0.0, max(positive) * 1.1)
    left.set_xlabel("radius (SOAP distance)")
    left.set_ylabel("coverage (share of target environments)")
    left.set_ylim(-0.02, 1.02)
    left.legend(frameon=False)
    hist = cov["novelty"]["histogram"]
    _overlay(right, hist["edges"], hist["reference"], hist["target"], log_x=False)
    right.set_xlabel("distance to nearest reference environment")
    right.set_title("novelty (reference: to nearest other)", fontsize=10)
    fig.suptitle(f"coverage at {cov['radius']:g}: {cov['coverage']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_label_bias(report: dict[str, Any], path: Path) -> None:
    """Overlaid reference/target histograms: force norm, energy above lowest frame, volumetric strain."""
    plt = _pyplot()
    ref, tgt = report["label_bias"]["reference"], report["label_bias"]["target"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    panels = (
        ("force_norm_ev_per_ang", "force norm |F| (eV/A)", True),
        ("energy_above_lowest_frame_ev_per_atom", "energy above lowest frame (eV/atom)", True),
        ("volumetric_strain_vs_relaxed_cell", "volumetric strain vs relaxed cell", False),
    )
    for ax, (key, label, log_x) in zip(axes, panels, strict=True):
        r_hist, t_hist = ref[key].get("histogram"), tgt[key].get("histogram")
        if r_hist and t_hist:
            _overlay(ax, r_hist["edges"], r_hist["counts"], t_hist["counts"], log_x=log_x)
        else:
            ax.text(0.5, 0.5, "no labelled rows", ha="center", transform=ax.transAxes)
        ax.set_xlabel(label)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
