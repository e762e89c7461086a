"""Learning-curve reports: JSON, a Markdown table and a PNG of force MAE against budget."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from curate import __version__
from curate.dataset.io import atomic_write_text
from curate.experiments.learning_curve import RANDOM, LearningCurve
from curate.experiments.scale_advice import MIN_USEFUL_GAIN
from curate.plotting import default_style

JSON_NAME, MARKDOWN_NAME, PLOT_NAME = "learning-curve.json", "learning-curve.md", "learning-curve.png"


def _number(value: float, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def curve_markdown(curve: LearningCurve, *, title: str) -> str:
    """A table per budget: every strategy's force MAE next to random's median [IQR], plus the limits."""
    lines = [
        f"# {title}",
        "",
        f"Untouched model: force MAE {curve.untouched_force_mae:.4f} eV/A, softening scale "
        f"{curve.untouched_softening_scale:.3f}. Best any single scale can do on this benchmark (oracle): "
        f"s = {curve.best_scale:.3f}, force MAE {curve.best_force_mae:.4f} eV/A ({100 * curve.best_gain:.1f} % "
        "lower).",
        *_cannot_help(curve),
        "",
        "advised: the force MAE of the model a strategy's picks recommend once their labels are in (the "
        "untouched model's when their scale advice says a correction will not help; `curate finetune` prints it).",
        "",
        "| budget | strategy | scale | force MAE (eV/A) | random IQR | \\|1 - softening\\| | energy MAE (eV/atom) "
        "| stress MAE (GPa) | marginal | advised (eV/A) |",
        "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for point in sorted(curve.points, key=lambda p: (p.budget, p.strategy != RANDOM, p.strategy)):
        iqr = f"[{point.force_mae_q25:.4f}, {point.force_mae_q75:.4f}]" if point.strategy == RANDOM else ""
        name = f"{point.strategy} (median of {point.draws})" if point.strategy == RANDOM else point.strategy
        lines.append(
            f"| {point.budget} | {name} | {point.scale:.3f} | {point.force_mae:.4f} | {iqr} | "
            f"{point.softening_deviation:.3f} | {_number(point.energy_mae)} | {_number(point.stress_mae)} | "
            f"{_number(point.marginal_force_mae, 5)} | {_number(point.advised_force_mae)} |"
        )
    return "\n".join(lines) + "\n"


def _cannot_help(curve: LearningCurve) -> list[str]:
    """The verdict when even the best scale gains less than MIN_USEFUL_GAIN on the benchmark (else nothing)."""
    if curve.best_gain >= MIN_USEFUL_GAIN:
        return []
    return [
        "",
        f"**A scale correction will not help**: even the best scale lowers the force MAE by less than "
        f"{100 * MIN_USEFUL_GAIN:.0f} %; the recommended model is the untouched one.",
    ]


def plot_curve(curve: LearningCurve, path: Path, *, title: str) -> None:
    """Force MAE against budget (log x): random median with its interquartile band, each strategy, limits."""
    with default_style() as plt:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        random_points = curve.curve(RANDOM)
        budgets = [p.budget for p in random_points]
        ax.fill_between(
            budgets,
            [p.force_mae_q25 for p in random_points],
            [p.force_mae_q75 for p in random_points],
            color="0.85",
            label="random: interquartile range",
        )
        ax.plot(budgets, [p.force_mae for p in random_points], color="0.4", marker="o", label="random: median")
        for name in curve.strategies():
            if name != RANDOM:
                points = curve.curve(name)
                ax.plot([p.budget for p in points], [p.force_mae for p in points], marker="s", label=name)
        ax.axhline(curve.untouched_force_mae, color="k", linestyle=":", label="untouched model")
        ax.axhline(curve.best_force_mae, color="k", linestyle="--", label="best single scale (oracle)")
        ax.set_xscale("log")
        ax.set_xlabel("correction-set size (structures)")
        ax.set_ylabel("held-out force MAE (eV/A)")
        ax.set_title(title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def write_curve_reports(curve: LearningCurve, out: Path, *, title: str, settings: dict[str, Any]) -> list[Path]:
    """Write JSON (every point, the limits, the settings), Markdown and PNG into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "curate": __version__,
        "settings": settings,
        "untouched_force_mae": curve.untouched_force_mae,
        "untouched_softening_scale": curve.untouched_softening_scale,
        "best_scale": curve.best_scale,
        "best_force_mae": curve.best_force_mae,
        "best_gain": curve.best_gain,
        "points": [p.as_dict() for p in curve.points],
    }
    atomic_write_text(out / JSON_NAME, json.dumps(record, indent=2, sort_keys=True, default=float) + "\n")
    atomic_write_text(out / MARKDOWN_NAME, curve_markdown(curve, title=title))
    plot_curve(curve, out / PLOT_NAME, title=title)
    return [out / JSON_NAME, out / MARKDOWN_NAME, out / PLOT_NAME]
