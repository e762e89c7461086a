"""The property benchmark's report: errors against DFT, the share under-predicted, ratios to the base model.

For each model variant and each modulus with a DFT value (K_VRH and G_VRH from the elastic tensor, the
equation-of-state B0 against DFT's K_VRH): the number of materials, MAE = mean |model - DFT| (GPa), the mean
signed error, the median ratio model / DFT, and the share of materials with model < DFT -- the property-level
softening the softening paper reports. For each variant after the first: the median ratio of each property
(phonons included) to the first (base) variant's on the same material.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curate.dataset.io import atomic_output

MODULI: tuple[tuple[str, str, str], ...] = (
    ("bulk_modulus_vrh_gpa", "bulk_modulus_dft_gpa", "K_VRH"),
    ("shear_modulus_vrh_gpa", "shear_modulus_dft_gpa", "G_VRH"),
    ("bulk_modulus_eos_gpa", "bulk_modulus_dft_gpa", "B0 (EOS)"),
)
RATIO_KEYS: tuple[str, ...] = (
    "bulk_modulus_vrh_gpa",
    "shear_modulus_vrh_gpa",
    "bulk_modulus_eos_gpa",
    "phonon_max_thz",
    "phonon_mean_signed_square_thz2",
)


def _pairs(records: Sequence[dict[str, Any]], label: str, key: str, reference_key: str) -> tuple[np.ndarray, ...]:
    """(DFT, model) arrays of the materials where both are finite."""
    dft, model = [], []
    for record in records:
        value = record["variants"][label]["values"].get(key)
        reference = record.get(reference_key)
        if value is not None and reference is not None and np.isfinite(value) and np.isfinite(reference):
            dft.append(float(reference))
            model.append(float(value))
    return np.array(dft), np.array(model)


def modulus_errors(dft: np.ndarray, model: np.ndarray) -> dict[str, float | int | None]:
    """Errors of the model's moduli against DFT's (GPa), over the materials where the model's is positive.

    A modulus <= 0 (a mechanically unstable elastic tensor: clamped ions in a cell with free internal
    coordinates, or a Reuss average of a near-singular tensor) is no stiffness to compare: such materials are
    counted in ``n_unstable`` and left out of n, MAE, median |error|, mean signed error, median model / DFT and
    the share with model < DFT.
    """
    stable = model > 0
    n_unstable = int(np.sum(~stable))
    dft, model = dft[stable], model[stable]
    if dft.size == 0:
        return {"n": 0, "n_unstable": n_unstable, "mae_gpa": None, "median_abs_error_gpa": None,
                "mean_error_gpa": None, "median_ratio": None, "share_under_predicted": None}  # fmt: skip
    positive = dft > 0
    return {
        "n": int(dft.size),
        "n_unstable": n_unstable,
        "mae_gpa": float(np.mean(np.abs(model - dft))),
        "median_abs_error_gpa": float(np.median(np.abs(model - dft))),
        "mean_error_gpa": float(np.mean(model - dft)),
        "median_ratio": float(np.median(model[positive] / dft[positive])) if positive.any() else None,
        "share_under_predicted": float(np.mean(model < dft)),
    }


def _ratio_to_base(records: Sequence[dict[str, Any]], label: str, base: str, key: str) -> dict[str, Any]:
    ratios = []
    for record in records:
        a = record["variants"][label]["values"].get(key)
        b = record["variants"][base]["values"].get(key)
        if a is not None and b is not None and b != 0 and np.isfinite(a) and np.isfinite(b):
            ratios.append(a / b)
    if not ratios:
        return {"n": 0}
    values = np.array(ratios)
    return {
        "n": len(ratios),
        "median": float(np.median(values)),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def summarise(records: Sequence[dict[str, Any]], labels: Sequence[str]) -> dict[str, Any]:
    """Per variant label: errors of each modulus against DFT, failures by property, ratios to the first label."""
    summary: dict[str, Any] = {}
    for label in labels:
        failures: dict[str, int] = {}
        for record in records:
            for name in record["variants"][label]["errors"]:
                failures[name] = failures.get(name, 0) + 1
        entry: dict[str, Any] = {
            "against_dft": {name: modulus_errors(*_pairs(records, label, key, ref)) for key, ref, name in MODULI},
            "failures": failures,
        }
        if label != labels[0]:
            entry["ratio_to_base"] = {key: _ratio_to_base(records, label, labels[0], key) for key in RATIO_KEYS}
        summary[label] = entry
    return summary


def _fmt(value: Any, digits: int = 2, *, percent: bool = False) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{100 * value:.0f} %"
    return f"{value:.{digits}f}"


def report_markdown(report: dict[str, Any], *, plot_name: str | None = None, max_rows: int = 100) -> str:
    """The report as Markdown: the summary table, ratios to the base, then one row per material."""
    labels = list(report["summary"])
    lines = [f"# Property benchmark: {', '.join(labels)}", ""]
    lines.append(
        f"{report['structures']} structures; n = materials with a positive modulus (unstable: <= 0, left out); "
        "MAE in GPa; under = share of materials with model < DFT (property-level softening)."
    )
    lines += ["", "| model | " + " | ".join(f"{n} n (unstable) | {n} MAE | {n} under" for _, _, n in MODULI)]
    lines[-1] += " | failures |"
    lines.append("|---|" + "---:|" * (3 * len(MODULI)) + "---|")
    for label, entry in report["summary"].items():
        cells = []
        for _, _, name in MODULI:
            e = entry["against_dft"][name]
            n = f"{e['n']} ({e['n_unstable']})"
            cells += [n, _fmt(e["mae_gpa"]), _fmt(e["share_under_predicted"], percent=True)]
        failures = ", ".join(f"{k} {v}" for k, v in sorted(entry["failures"].items())) or "none"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {failures} |")
    ratio_rows = [(label, e["ratio_to_base"]) for label, e in report["summary"].items() if "ratio_to_base" in e]
    if ratio_rows:
        lines += ["", f"Median ratio to {labels[0]} on the same structure (min-max):", ""]
        lines += ["| model | " + " | ".join(RATIO_KEYS) + " |", "|---|" + "---:|" * len(RATIO_KEYS)]
        for label, ratios in ratio_rows:
            cells = [
                f"{r['median']:.4f} ({r['min']:.4f}-{r['max']:.4f})" if r.get("n") else "-"
                for r in (ratios[k] for k in RATIO_KEYS)
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| id | formula | atoms | K DFT | G DFT | " + " | ".join(f"K, G, B0 {label}" for label in labels) + " |",
    ]
    lines.append("|---|---|---:|---:|---:|" + "---|" * len(labels))
    for record in report["records"][:max_rows]:
        cells = []
        for label in labels:
            values = record["variants"][label]["values"]
            cells.append(", ".join(_fmt(values.get(key), 1) for key, _, _ in MODULI))
        lines.append(
            f"| {record['id']} | {record['formula']} | {record['nsites']} | {_fmt(record['bulk_modulus_dft_gpa'], 1)} "
            f"| {_fmt(record['shear_modulus_dft_gpa'], 1)} | " + " | ".join(cells) + " |"
        )
    if len(report["records"]) > max_rows:
        lines.append(f"\n({len(report['records']) - max_rows} more in the JSON)")
    if plot_name:
        lines += ["", f"![parity]({plot_name})"]
    return "\n".join(lines) + "\n"


def parity_plot(report: dict[str, Any], path: Path) -> Path:
    """A two-panel log-log parity PNG: model vs DFT K_VRH and G_VRH (GPa), one marker per variant, y = x."""
    from curate.plotting import PNG_METADATA, default_style

    labels = list(report["summary"])
    with default_style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
        for ax, (key, ref, name) in zip(axes, MODULI[:2], strict=True):
            values = []
            for index, label in enumerate(labels):
                dft, model = _pairs(report["records"], label, key, ref)
                keep = (dft > 0) & (model > 0)
                errors = report["summary"][label]["against_dft"][name]
                ax.scatter(
                    dft[keep],
                    model[keep],
                    s=18,
                    alpha=0.75,
                    marker="osD^v"[index % 5],
                    label=f"{label}: MAE {_fmt(errors['mae_gpa'], 1)} GPa, "
                    f"{_fmt(errors['share_under_predicted'], percent=True)} under",
                )
                values += [*dft[keep], *model[keep]]
            if values:
                lo, hi = 0.8 * min(values), 1.25 * max(values)
                ax.plot([lo, hi], [lo, hi], ls="--", color="black", lw=1.0, label="y = x")
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlim(lo, hi)
                ax.set_ylim(lo, hi)
            ax.set_xlabel(f"DFT {name} (GPa)")
            ax.set_ylabel(f"model {name} (GPa)")
            ax.legend(loc="upper left", frameon=False, fontsize=8)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=150, format="png", metadata=PNG_METADATA)
        plt.close(fig)
    return path


def write_report(report: dict[str, Any], out_dir: Path, *, stem: str = "properties") -> tuple[Path, Path, Path]:
    """Write ``stem``.json, ``stem``.md and ``stem``_parity.png into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = parity_plot(report, out_dir / f"{stem}_parity.png")
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    with atomic_output(json_path) as tmp:
        tmp.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    with atomic_output(md_path) as tmp:
        tmp.write_text(report_markdown(report, plot_name=plot.name), encoding="utf-8")
    return json_path, md_path, plot
