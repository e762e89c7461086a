"""Numbers of a coverage run as a JSON-ready dict and as Markdown."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from curate import __version__
from curate.diagnostics.coverage import CoverageOptions, CoverageResult
from curate.diagnostics.label_bias import LabelStats

NOVELTY_BINS = 60


def coverage_at(distances: np.ndarray, radius: float) -> float:
    """Share of environments whose nearest-reference distance is <= ``radius`` (NaN for no environments)."""
    return float(np.mean(distances <= radius)) if len(distances) else float("nan")


def novelty_edges(result: CoverageResult) -> np.ndarray:
    """Shared bin edges (SOAP distance) for the target's and the reference's novelty histograms."""
    finite = np.concatenate([result.distances[np.isfinite(result.distances)], result.reference_self_distances])
    top = float(finite.max()) if len(finite) else 0.0
    return np.linspace(0.0, max(top, 1e-3) * 1.0001, NOVELTY_BINS + 1)


def coverage_summary(result: CoverageResult, options: CoverageOptions) -> dict[str, Any]:
    """Coverage curve, per-element and per-source coverage at ``options.radius``, novelty distributions."""
    d = result.distances
    per_element = {}
    for z in np.unique(result.center_z):
        mask = result.center_z == z
        per_element[chemical_symbols[int(z)]] = _group_numbers(d[mask], options.radius)
    per_source = {
        name: _group_numbers(d[result.source == k], options.radius) for k, name in enumerate(result.source_names)
    }
    edges = novelty_edges(result)
    finite = d[np.isfinite(d)]
    return {
        "radius": options.radius,
        "coverage": coverage_at(d, options.radius),
        "curve": [{"radius": r, "coverage": coverage_at(d, r)} for r in options.radii],
        "target_environments": len(d),
        "environments_of_elements_missing_from_reference": int(np.sum(~np.isfinite(d))),
        "per_element": per_element,
        "per_source": per_source,
        "novelty": {
            "target_to_reference": _quantiles(finite),
            "reference_to_nearest_other_reference": _quantiles(result.reference_self_distances),
            "histogram": {
                "edges": edges.tolist(),
                "target": np.histogram(finite, bins=edges)[0].tolist(),
                "reference": np.histogram(result.reference_self_distances, bins=edges)[0].tolist(),
            },
        },
    }


def build_report(
    *,
    result: CoverageResult,
    options: CoverageOptions,
    reference: dict[str, Any],
    target: dict[str, Any],
    reference_labels: LabelStats | None,
    target_labels: LabelStats | None,
    command: str,
) -> dict[str, Any]:
    """The full JSON report: provenance, descriptor, coverage and (when computed) label-space bias."""
    report: dict[str, Any] = {
        "report": "coverage",
        "curate_version": __version__,
        "command": command,
        "reference": {
            **reference,
            "rows": result.reference_scan.num_rows,
            "environments": result.reference_scan.num_environments,
            "elements": sorted(result.reference_scan.elements),
        },
        "target": {
            **target,
            "rows": result.target_scan.num_rows,
            "environments": result.target_scan.num_environments,
            "elements": sorted(result.target_scan.elements),
        },
        "descriptor": result.descriptor,
        "reduction": {
            "method": "PCA (streamed covariance) of a seeded sample of reference rows, plus the residual norm",
            "n_components": result.descriptor["n_components"],
            "explained_variance": result.explained_variance,
            "pca_sample_envs": options.pca_sample_envs,
        },
        "distance": "Euclidean distance of unit-norm SOAP vectors in the reduced space, nearest reference "
        "environment with the same central element (a lower bound of the full SOAP distance)",
        "seed": options.seed,
        "coverage": coverage_summary(result, options),
        "timings_s": result.timings_s,
    }
    if reference_labels is not None and target_labels is not None:
        report["label_bias"] = {"reference": reference_labels.summary(), "target": target_labels.summary()}
    return _finite(report)


def render_markdown(report: dict[str, Any]) -> str:
    """A short Markdown page: coverage curve, per element, per source, novelty and label-space bias."""
    cov = report["coverage"]
    lines = [
        "# Coverage report",
        "",
        f"Reference `{report['reference']['path']}` ({report['reference']['environments']:,} environments) vs "
        f"target `{report['target']['path']}` ({report['target']['environments']:,} environments).",
        f"Descriptor: SOAP r_cut {report['descriptor']['r_cut_ang']} A, n_max {report['descriptor']['n_max']}, "
        f"l_max {report['descriptor']['l_max']}, sigma {report['descriptor']['sigma_ang']} A, compression "
        f"{report['descriptor']['compression_resolved']}, {report['descriptor']['n_features']} features -> "
        f"{report['reduction']['n_components']} PCA axes + residual "
        f"(explained variance {_fmt(report['reduction']['explained_variance'])}).",
        "",
        f"**Coverage at radius {cov['radius']:g}: {_fmt(cov['coverage'])}**",
        "",
        "| radius | coverage |",
        "|---:|---:|",
        *[f"| {p['radius']:g} | {_fmt(p['coverage'])} |" for p in cov["curve"]],
        "",
        f"| element | environments | coverage at {cov['radius']:g} | median distance |",
        "|---|---:|---:|---:|",
        *[
            f"| {el} | {g['environments']:,} | {_fmt(g['coverage'])} | {_fmt(g['median_distance'])} |"
            for el, g in cov["per_element"].items()
        ],
        "",
        f"| target source | environments | coverage at {cov['radius']:g} | median distance |",
        "|---|---:|---:|---:|",
        *[
            f"| {name} | {g['environments']:,} | {_fmt(g['coverage'])} | {_fmt(g['median_distance'])} |"
            for name, g in cov["per_source"].items()
        ],
        "",
        "| novelty (SOAP distance) | p50 | p90 | p99 | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in (
        ("target -> reference", "target_to_reference"),
        ("reference -> other reference", "reference_to_nearest_other_reference"),
    ):
        q = cov["novelty"][key]
        lines.append(
            f"| {label} | {_fmt(q.get('p50'))} | {_fmt(q.get('p90'))} | {_fmt(q.get('p99'))} | {_fmt(q.get('max'))} |"
        )
    if "label_bias" in report:
        lines += ["", "| label | reference | target |", "|---|---:|---:|"]
        ref, tgt = report["label_bias"]["reference"], report["label_bias"]["target"]
        rf, tf = ref["force_norm_ev_per_ang"], tgt["force_norm_ev_per_ang"]
        lines.append(f"| mean force norm (eV/A) | {_fmt(rf['mean'])} | {_fmt(tf['mean'])} |")
        lines.append(
            f"| median force norm (eV/A) | {_fmt(rf['median_from_histogram'])} | {_fmt(tf['median_from_histogram'])} |"
        )
        for t in rf["share_below"]:
            share_ref, share_tgt = _fmt(rf["share_below"][t]), _fmt(tf["share_below"][t])
            lines.append(f"| share of atoms with force < {t} eV/A | {share_ref} | {share_tgt} |")
        for title, key in (
            ("energy above lowest frame, median (eV/atom)", "energy_above_lowest_frame_ev_per_atom"),
            ("volumetric strain vs relaxed cell, median", "volumetric_strain_vs_relaxed_cell"),
        ):
            median_ref = _fmt(ref[key].get("quantiles", {}).get("0.5"))
            median_tgt = _fmt(tgt[key].get("quantiles", {}).get("0.5"))
            lines.append(f"| {title} | {median_ref} | {median_tgt} |")
    return "\n".join(lines) + "\n"


def _group_numbers(distances: np.ndarray, radius: float) -> dict[str, Any]:
    finite = distances[np.isfinite(distances)]
    return {
        "environments": len(distances),
        "coverage": coverage_at(distances, radius),
        "median_distance": float(np.median(distances)) if len(distances) else float("nan"),
        "max_finite_distance": float(finite.max()) if len(finite) else float("nan"),
    }


def _quantiles(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    p50, p90, p99 = np.quantile(values, [0.5, 0.9, 0.99])
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(values.max()),
        "mean": float(values.mean()),
    }


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.4g}"


def _finite(value: Any) -> Any:
    """Replace NaN/inf by None so that the report is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return _finite(float(value))
    return value
