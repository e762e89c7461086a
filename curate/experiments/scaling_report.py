"""Report of a scaling experiment: power-law fits per method, JSON, a Markdown table and the log-log plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curate import __version__
from curate.dataset.io import atomic_write_text
from curate.errors import ConfigurationError
from curate.experiments.power_law import PowerLawFit, fit_power_law
from curate.experiments.scaling import METHOD_ATOMREF, METHOD_HELP, SCALING_METHODS, ScalingPlan, ScalingSplit
from curate.experiments.scaling_results import RESULTS_FILE
from curate.models.base import ModelInfo
from curate.training.data import TrainingSet

# validation metrics the scaling law is fitted to (science.md: validation MAE against N)
FIT_METRICS = {"energy": "val_energy_mae_ev_per_atom", "force": "val_force_mae_ev_per_ang"}
FIT_UNITS = {"energy": ("meV/atom", 1000.0), "force": ("meV/Å", 1000.0)}
METHOD_COLORS = {
    "scratch": "#555555",
    "tl-trainable-ref": "#1f77b4",
    "tl-frozen-ref": "#ff7f0e",
    "tl-refit-ref": "#d62728",
}
REPORT_STEM = "scaling"
# columns of the results table that identify a configuration, not a measurement
_KEY_COLUMNS = ("settings_hash", "target_hash")


def fit_methods(rows: Sequence[dict[str, Any]], *, min_n: int | None = None) -> dict[str, dict[str, Any]]:
    """Power-law fit of validation energy and force MAE against N, per method present in ``rows``.

    Returns:
        {method: {"energy": fit, "force": fit}}, each fit :meth:`PowerLawFit.as_dict` or ``{"error": reason}``
        when the points cannot be fitted (fewer than two sizes >= ``min_n``).
    """
    fits: dict[str, dict[str, Any]] = {}
    for method in _methods_in(rows):
        mine = [r for r in rows if r["method"] == method]
        fits[method] = {}
        for quantity, column in FIT_METRICS.items():
            try:
                fit = fit_power_law([r["n_train"] for r in mine], [r[column] for r in mine], min_n=min_n)
                fits[method][quantity] = fit.as_dict()
            except ConfigurationError as exc:
                fits[method][quantity] = {"error": str(exc)}
    return fits


def data_efficiency(fits: dict[str, dict[str, Any]], *, baseline: str = "scratch") -> list[dict[str, Any]]:
    """How many structures ``baseline`` needs to match each other method, from the fitted lines.

    For method m with a fit over [n_min, n_max]: the MAE its line gives at n_max, and N_baseline =
    (MAE / prefactor_baseline) ** (1 / slope_baseline), the size at which the baseline's line reaches it;
    ratio = N_baseline / n_max. ``extrapolated`` is true when N_baseline lies outside the baseline's fitted range.
    """
    rows: list[dict[str, Any]] = []
    if baseline not in fits:
        return rows
    for method, per_quantity in fits.items():
        if method == baseline:
            continue
        for quantity, fit in per_quantity.items():
            base_fit = fits[baseline][quantity]
            if "error" in fit or "error" in base_fit:
                continue
            mine, theirs = _as_fit(fit), _as_fit(base_fit)
            mae = float(mine.predict(mine.n_max))
            n_needed = theirs.n_for(mae)
            rows.append(
                {
                    "method": method,
                    "quantity": quantity,
                    "n_method": mine.n_max,
                    "mae": mae,
                    "n_baseline": n_needed,
                    "ratio": n_needed / mine.n_max,
                    "extrapolated": not theirs.n_min <= n_needed <= theirs.n_max,
                }
            )
    return rows


def scaling_report(
    rows: Sequence[dict[str, Any]],
    *,
    plan: ScalingPlan,
    base: ModelInfo,
    target: TrainingSet,
    split: ScalingSplit,
    command: str,
    device: str,
    fit_min_n: int | None = None,
) -> dict[str, Any]:
    """The JSON report: provenance (command, settings, model, target hash, split), points, fits, efficiency.

    ``rows`` are the results-table rows of one configuration (any methods, sizes and seeds); every row is a
    point of the report and enters the fits.
    """
    fits = fit_methods(rows, min_n=fit_min_n)
    methods = _methods_in(rows) or list(plan.methods)
    points = []
    for row in rows:
        point = {k: v for k, v in row.items() if k not in (*_KEY_COLUMNS, "extra_json")}
        point["extra"] = json.loads(row["extra_json"])
        points.append(point)
    return {
        "kind": "scaling",
        "command": command,
        "created_with": {"curate": __version__},
        "pretrained": base.as_dict(),
        "target": {
            "path": target.origin,
            "content_hash": target.content_hash,
            "structures": len(target),
            "atoms": target.num_atoms,
        },
        "split": {
            "fractions": list(plan.split_fractions),
            "seed": plan.split_seed,
            "by": "material (material_id, else reduced formula)",
            "subsets": "training subset N = first N of a seeded permutation of the training split (nested)",
            "parts": split.describe(),
        },
        "settings": {**plan.settings.as_dict(), "atomref": "per method", "method": "full"},
        "seeds": sorted({r["seed"] for r in rows}),
        "settings_hash": rows[0]["settings_hash"] if rows else plan.settings_hash(base),
        "device": device,
        "methods": {m: {"atomref": METHOD_ATOMREF[m], "description": METHOD_HELP[m]} for m in methods},
        "sizes": sorted({r["n_train"] for r in rows}),
        "results_table": RESULTS_FILE,
        "fit": {
            "equation": "log10(MAE) = intercept_log10 + slope * log10(N), least squares (numpy.polyfit)",
            "metrics": FIT_METRICS,
            "min_n": fit_min_n,
        },
        "fits": fits,
        "data_efficiency": data_efficiency(fits),
        "points": points,
    }


def report_markdown(report: dict[str, Any], *, plot_name: str | None = None) -> str:
    """Markdown: provenance lines, the fitted exponents per method, and every point's MAEs."""
    parts = report["split"]["parts"]
    lines = [
        f"# Scaling: {', '.join(report['methods'])} from {report['pretrained']['name']}",
        "",
        f"Target: `{report['target']['path']}` ({report['target']['structures']} structures, content hash "
        f"{report['target']['content_hash'][:16]}); split by material "
        f"{':'.join(f'{f:g}' for f in report['split']['fractions'])} seed {report['split']['seed']} -> "
        f"train {parts['train']['structures']} / val {parts['val']['structures']} / "
        f"test {parts['test']['structures']} structures.",
        f"Training: {_settings_line(report['settings'])}; seeds {', '.join(map(str, report['seeds']))}.",
        "",
    ]
    if plot_name:
        lines += [f"![MAE vs N]({plot_name})", ""]
    min_n = report["fit"]["min_n"]
    lines += [
        f"Fit: log10(validation MAE) = intercept + slope * log10(N) over N >= {min_n or 'all'}; "
        "prefactor = MAE of the line at N = 1.",
        "",
        "| method | energy slope | energy prefactor (meV/atom) | force slope | force prefactor (meV/Å) | points |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for method, fit in report["fits"].items():
        e, f = fit["energy"], fit["force"]
        lines.append(
            f"| {method} | {_num(e.get('slope'), 3)} | {_num(_milli(e.get('prefactor')), 1)} "
            f"| {_num(f.get('slope'), 3)} | {_num(_milli(f.get('prefactor')), 1)} | {e.get('points', 0)} |"
        )
    for method, fit in report["fits"].items():
        for quantity in ("energy", "force"):
            if "error" in fit[quantity]:
                lines.append(f"\n{method} {quantity}: not fitted ({fit[quantity]['error']}).")
    if report["data_efficiency"]:
        lines += ["", "| method | quantity | its N | scratch N for the same MAE | ratio |", "|---|---|---:|---:|---:|"]
        for d in report["data_efficiency"]:
            note = " (extrapolated)" if d["extrapolated"] else ""
            lines.append(
                f"| {d['method']} | {d['quantity']} | {d['n_method']} | {d['n_baseline']:.0f}{note} "
                f"| {d['ratio']:.2f} |"
            )
    lines += [
        "",
        "| method | N | seed | val energy (meV/atom) | val force (meV/Å) | val stress (GPa) | test energy (meV/atom) "
        "| test force (meV/Å) | epochs | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    order = {m: i for i, m in enumerate(SCALING_METHODS)}
    for p in sorted(report["points"], key=lambda p: (p["n_train"], order.get(p["method"], 0), p["seed"])):
        lines.append(
            f"| {p['method']} | {p['n_train']} | {p['seed']} | {_num(_milli(p['val_energy_mae_ev_per_atom']), 1)} "
            f"| {_num(_milli(p['val_force_mae_ev_per_ang']), 1)} | {_num(p['val_stress_mae_gpa'], 3)} "
            f"| {_num(_milli(p['test_energy_mae_ev_per_atom']), 1)} "
            f"| {_num(_milli(p['test_force_mae_ev_per_ang']), 1)} "
            f"| {p['epochs']} | {p['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def plot_scaling(report: dict[str, Any], path: Path) -> Path:
    """Log-log MAE vs N, energy and force panels, one colour per method, fitted lines dashed; returns ``path``."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from curate.plotting import PNG_METADATA, default_style

    all_sizes = sorted({p["n_train"] for p in report["points"]})
    with default_style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
        for ax, (quantity, column) in zip(axes, FIT_METRICS.items(), strict=True):
            unit, factor = FIT_UNITS[quantity]
            for method in report["methods"]:
                mine = [p for p in report["points"] if p["method"] == method and p[column] is not None]
                if not mine:
                    continue
                color = METHOD_COLORS.get(method)
                fit = report["fits"].get(method, {}).get(quantity, {})
                sizes = sorted({p["n_train"] for p in mine})
                means = [factor * float(np.mean([p[column] for p in mine if p["n_train"] == n])) for n in sizes]
                ax.plot(
                    [p["n_train"] for p in mine], [factor * p[column] for p in mine], "o", color=color, alpha=0.6, ms=4
                )
                label = f"{method} (slope {fit['slope']:.2f})" if "slope" in fit else method
                ax.plot(sizes, means, "-", color=color, linewidth=1.0, label=label)
                if "slope" in fit:
                    line_n = np.geomspace(fit["n_min"], fit["n_max"], 20)
                    ax.plot(line_n, factor * _as_fit(fit).predict(line_n), "--", color=color, linewidth=1.5)
            ax.set_xscale("log")
            ax.set_yscale("log")
            # the measured sizes are the x ticks: log axes over less than a decade otherwise show no label
            ax.xaxis.set_major_locator(FixedLocator(all_sizes))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
            ax.set_xlabel("training structures N")
            ax.set_ylabel(f"validation {quantity} MAE ({unit})")
            ax.set_title(f"{quantity} MAE vs N", fontsize=10)
            handles, _ = ax.get_legend_handles_labels()
            handles.append(Line2D([], [], color="0.4", linestyle="--", label="power-law fit"))
            ax.legend(handles=handles, frameon=False, fontsize=7)
        fig.suptitle(f"{report['pretrained']['name']} -> target {Path(report['target']['path']).name}", fontsize=10)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, metadata=PNG_METADATA)
        plt.close(fig)
    return path


def write_report(report: dict[str, Any], out: Path, *, stem: str = REPORT_STEM) -> tuple[Path, Path, Path]:
    """Write ``<stem>.png``, ``<stem>.json`` and ``<stem>.md`` into ``out`` (each by atomic replace)."""
    out.mkdir(parents=True, exist_ok=True)
    png = plot_scaling(report, out / f"{stem}.png")
    report = {**report, "plot": png.name}
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    atomic_write_text(json_path, json.dumps(report, indent=2, allow_nan=False) + "\n")
    atomic_write_text(md_path, report_markdown(report, plot_name=png.name))
    return json_path, md_path, png


def _as_fit(fit: dict[str, Any]) -> PowerLawFit:
    return PowerLawFit(
        slope=fit["slope"],
        intercept_log10=fit["intercept_log10"],
        points=fit["points"],
        n_min=fit["n_min"],
        n_max=fit["n_max"],
        r_squared=fit["r_squared"],
    )


def _methods_in(rows: Sequence[dict[str, Any]]) -> list[str]:
    present = {r["method"] for r in rows}
    return [m for m in SCALING_METHODS if m in present]


def _settings_line(settings: dict[str, Any]) -> str:
    return (
        f"{settings['epochs']} epochs, lr {settings['learning_rate']:g} -> {settings['final_learning_rate']:g} "
        "(cosine), "
        f"{settings['loss']} loss, weights energy {settings['energy_weight']:g} / force {settings['force_weight']:g} / "
        f"stress {settings['stress_weight']:g}, batch {settings['batch_size']}"
    )


def _milli(value: float | None) -> float | None:
    return None if value is None else 1000.0 * value


def _num(value: float | None, digits: int) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"
