"""The correction-gain experiment's outputs: ``validation.json``, ``validation.md`` and ``validation.png``.

Everything here works from the JSON-ready report (``CorrectionGainResult.as_dict()`` plus provenance), so a
report can be redrawn from ``validation.json`` alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from curate.experiments.correction_advice import recommendation_markdown
from curate.plotting import PNG_METADATA
from curate.training.out_of_domain import change_markdown

JSON_NAME = "validation.json"
MARKDOWN_NAME = "validation.md"
PLOT_NAME = "validation.png"

# (key in a metrics record, column title) of the per-set table
COLUMNS: tuple[tuple[str, str], ...] = (
    ("force_mae_ev_per_ang", "force MAE (eV/Å)"),
    ("softening_scale", "softening scale"),
    ("force_cmae_ev_per_ang", "force cMAE (eV/Å)"),
    ("energy_mae_ev_per_atom", "energy MAE (eV/atom)"),
    ("stress_mae_gpa", "stress MAE (GPa)"),
)
GAIN_TITLES = {
    "force_mae_ev_per_ang": "force MAE (eV/Å)",
    "softening_error": "\\|1 - softening scale\\|",  # pipes escaped inside a Markdown table
    "force_cmae_ev_per_ang": "force cMAE (eV/Å)",
    "energy_mae_ev_per_atom": "energy MAE (eV/atom)",
    "stress_mae_gpa": "stress MAE (GPa)",
}
BEFORE_COLOR = "0.45"
RANDOM_COLOR = "#1f77b4"
CORRECTION_COLOR = "#d62728"


def _number(value: Any, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pm(stat: dict[str, Any] | None, digits: int = 4) -> str:
    return "–" if stat is None else f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def _row(label: str, trained_on: str, scale: Any, metrics: dict[str, Any]) -> str:
    cells = [label, trained_on, _number(scale), *(_number(metrics.get(key)) for key, _ in COLUMNS)]
    return "| " + " | ".join(cells) + " |"


def report_markdown(report: dict[str, Any]) -> str:
    """Markdown: what was run, the before/after table per set with the random mean ± std, and the gains."""
    data = report["data"]
    lines = [
        f"# Correction set vs random sets: {report['model']['name']}, {report['method']} fine-tuning",
        "",
        f"pool: {data['pool']['origin']} ({data['pool']['structures']} structure(s)); "
        f"correction set: {data['correction']['origin']} ({data['correction']['structures']} structure(s), "
        f"{report['correction_in_pool']} of them in the pool); benchmark: {data['benchmark']['origin']} "
        f"({data['benchmark']['structures']} structure(s), held out). {report['repeats']} random sets of "
        f"{data['correction']['structures']} drawn from the pool with seed {report['seed']}.",
        "",
        "| model | trained on | energy scale | " + " | ".join(title for _, title in COLUMNS) + " |",
        "|---|---|---:|" + "---:|" * len(COLUMNS),
        _row("before (untouched)", "–", None, report["before"]),
    ]
    for run in report["random"]:
        label = run["label"] + (f" (= {run['same_as']})" if run.get("same_as") else "")
        lines.append(_row(label, _ids(run["train_ids"]), run["energy_scale"], run["metrics"]))
    spread = report["random_mean_std"]
    lines.append("| random mean ± std | | | " + " | ".join(_pm(spread.get(key)) for key, _ in COLUMNS) + " |")
    chosen = report["correction"]
    lines.append(_row("**correction**", _ids(chosen["train_ids"]), chosen["energy_scale"], chosen["metrics"]))
    lines += [
        "",
        "Gain of the correction set over random sets of its size (gain = random - correction; positive = the "
        "correction set is better):",
        "",
        "| error | before | correction | random mean ± std | gain mean ± std |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, gain in report["gain_over_random"].items():
        before = report["before"].get(key)
        after = chosen["softening_error"] if key == "softening_error" else chosen["metrics"].get(key)
        lines.append(
            f"| {GAIN_TITLES.get(key, key)} | {_number(before)} | {_number(after)} | {_pm(spread.get(key))} "
            f"| {_pm(gain)} |"
        )
    lines += recommendation_markdown(report.get("recommendation"))
    if chosen.get("out_of_domain"):
        lines += ["", "Out of domain, the correction set's model against the untouched one:", ""]
        lines += change_markdown(chosen["out_of_domain"])
    if report.get("plot"):
        lines += ["", f"![force MAE and softening scale per set]({report['plot']})"]
    return "\n".join(lines) + "\n"


def _ids(ids: list[str], shown: int = 3) -> str:
    text = ", ".join(i[:8] for i in ids[:shown])
    return text + (f" +{len(ids) - shown}" if len(ids) > shown else "")


def plot_correction_gain(report: dict[str, Any], path: Path) -> Path:
    """Two panels, force MAE (eV/Å) and softening scale: before, each random set with mean ± std, correction.

    Returns ``path``.
    """
    from curate.plotting import default_style

    with default_style() as plt:
        _draw(plt, report, path)
    return path


def _draw(plt: Any, report: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.8), constrained_layout=True)
    panels = (("force_mae_ev_per_ang", "benchmark force MAE (eV/Å)"), ("softening_scale", "benchmark softening scale"))
    random_runs = report["random"]
    spread = report["random_mean_std"]
    for ax, (key, label) in zip(axes, panels, strict=True):
        ax.bar(0, report["before"][key], width=0.6, color=BEFORE_COLOR, alpha=0.8)
        values = np.array([run["metrics"][key] for run in random_runs], dtype=float)
        offsets = np.linspace(-0.18, 0.18, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(1 + offsets, values, s=22, color=RANDOM_COLOR, alpha=0.6, zorder=3, label="one random set")
        stat = spread[key]
        ax.errorbar(
            1.32,
            stat["mean"],
            yerr=stat["std"],
            fmt="o",
            color=RANDOM_COLOR,
            capsize=4,
            zorder=4,
            label="random mean ± std",
        )
        ax.bar(2, report["correction"]["metrics"][key], width=0.6, color=CORRECTION_COLOR, alpha=0.85)
        for x, value in ((0, report["before"][key]), (2, report["correction"]["metrics"][key])):
            ax.annotate(f"{value:.3f}", (x, value), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                        textcoords="offset points")  # fmt: skip
        if key == "softening_scale":
            ax.axhline(1.0, color="black", linestyle="--", linewidth=1.0, label="no softening")
        ax.set_xticks([0, 1, 2])
        ax.set_xticklabels(["before", f"random ({len(values)})", "correction"])
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0.0)
        ax.legend(frameon=False, fontsize=8, loc="lower right")
    fig.suptitle(
        f"{report['model']['name']}, {report['method']} fine-tuning on "
        f"{report['data']['correction']['structures']} structure(s)",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata=PNG_METADATA)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``validation.png``, ``validation.json`` and ``validation.md`` into ``out_dir``; returns their paths.

    ``report`` gets ``plot`` set to the PNG's file name (relative to ``out_dir``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = plot_correction_gain(report, out_dir / PLOT_NAME)
    report["plot"] = plot.name
    json_path = out_dir / JSON_NAME
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    markdown_path = out_dir / MARKDOWN_NAME
    markdown_path.write_text(report_markdown(report))
    return {"json": json_path, "markdown": markdown_path, "plot": plot}
