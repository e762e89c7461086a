"""Stream a dataset and its predictions into a per-group softening report (JSON, Markdown, parity PNG).

Two passes over the shards in lockstep with the predictions (memory bounded by one batch plus a fixed-size
sample of points for the plot): pass 1 accumulates the sums that give each group's slope; pass 2 the cMAE,
which needs the slope.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import __version__
from curate.dataset.store import Dataset
from curate.diagnostics.softening import GroupStats, share_below_one
from curate.errors import ConfigurationError, DatasetError
from curate.models.predictions import Predictions, iter_aligned

NO_GROUP = "(none)"
SAMPLE_POINTS = 50_000


@dataclass
class _Sample:
    """Bottom-k sample of (DFT, predicted) pairs under seeded random keys: uniform, bounded, reproducible."""

    size: int
    rng: np.random.Generator
    keys: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @classmethod
    def empty(cls, size: int, rng: np.random.Generator) -> _Sample:
        return cls(size, rng, np.zeros(0), np.zeros(0), np.zeros(0))

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        keys = np.concatenate([self.keys, self.rng.random(x.size)])
        xs = np.concatenate([self.x, x.reshape(-1)])
        ys = np.concatenate([self.y, y.reshape(-1)])
        if keys.size > self.size:
            keep = np.argpartition(keys, self.size)[: self.size]
            keys, xs, ys = keys[keep], xs[keep], ys[keep]
        self.keys, self.x, self.y = keys, xs, ys


def _per_atom_arrays(column: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid per row, flat values, start offset per row into flat) of a list<fixed_size_list<width>> column."""
    valid = ~column.is_null().to_numpy(zero_copy_only=False)
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy().astype(np.int64) * width
    flat = column.flatten().flatten().to_numpy()
    starts = np.concatenate([[0], np.cumsum(lengths)])
    return valid, flat, starts


def _stream(
    dataset: Dataset, predictions: Predictions, model: str, group_by: str, batch_rows: int
) -> Iterator[tuple[list[str], pa.RecordBatch, pa.RecordBatch]]:
    columns = ["id", "nsites", "energy", "forces", "stress", group_by]
    aligned = iter_aligned(
        dataset.iter_batches(columns=list(dict.fromkeys(columns)), batch_rows=batch_rows),
        predictions.iter_model(model, batch_rows=batch_rows),
        where=str(predictions.path),
    )
    for ref, pred in aligned:
        groups = [NO_GROUP if g is None else str(g) for g in ref.column(group_by).to_pylist()]
        if not np.array_equal(ref.column("nsites").to_numpy(), pred.column("nsites").to_numpy()):
            raise DatasetError(f"{predictions.path}: atom counts differ from the reference rows")
        yield groups, ref, pred


def _pass_rows(
    groups: list[str], ref: pa.RecordBatch, pred: pa.RecordBatch
) -> Iterator[tuple[int, str, np.ndarray | None, np.ndarray, dict[str, Any]]]:
    """Per row: index, group, reference forces (None when missing), predicted forces, and the other labels."""
    rvalid, rflat, rstart = _per_atom_arrays(ref.column("forces"), 3)
    _, pflat, pstart = _per_atom_arrays(pred.column("forces"), 3)
    nsites = ref.column("nsites").to_numpy()
    r_energy = ref.column("energy").to_pylist()
    p_energy = pred.column("energy").to_numpy()
    r_stress_col = ref.column("stress")
    r_stress_valid = ~r_stress_col.is_null().to_numpy(zero_copy_only=False)
    r_stress = r_stress_col.flatten().flatten().to_numpy(zero_copy_only=False).reshape(-1, 9)
    p_stress = pred.column("stress").flatten().flatten().to_numpy().reshape(-1, 9)
    for k, group in enumerate(groups):
        x = rflat[rstart[k] : rstart[k + 1]] if rvalid[k] else None
        y = pflat[pstart[k] : pstart[k + 1]]
        other = {
            "nsites": int(nsites[k]),
            "energy": (r_energy[k], float(p_energy[k])),
            "stress": (r_stress[k] if r_stress_valid[k] else None, p_stress[k]),
        }
        yield k, group, x, y, other


def _second_pass(
    groups: list[str],
    ref: pa.RecordBatch,
    pred: pa.RecordBatch,
    stats: dict[str, GroupStats],
    overall: GroupStats,
    samples: dict[str, _Sample],
) -> None:
    """Pass 2 over one batch: the cMAE sums (slopes known from pass 1) and the parity-plot samples."""
    batch_e: list[tuple[float, float]] = []
    for _, group, x, y, other in _pass_rows(groups, ref, pred):
        if x is not None:
            stats[group].add_corrected(x, y)
            overall.add_corrected(x, y)
            samples["forces"].add(x, y)
        ref_energy, pred_energy = other["energy"]
        if ref_energy is not None:
            batch_e.append((ref_energy / other["nsites"], pred_energy / other["nsites"]))
        ref_stress, pred_stress = other["stress"]
        if ref_stress is not None:
            samples["stress"].add(ref_stress, pred_stress)
    if batch_e:
        pairs = np.asarray(batch_e)
        samples["energy_per_atom"].add(pairs[:, 0], pairs[:, 1])


def check_group_by(group_by: str) -> None:
    """ConfigurationError unless ``group_by`` is a column of the row schema."""
    from curate.dataset.schema import row_schema

    if group_by not in row_schema().names:
        raise ConfigurationError(f"group_by {group_by!r} is not a column; columns: {', '.join(row_schema().names)}")


def softening_report(
    dataset_path: str | Path,
    predictions_path: str | Path,
    model: str,
    *,
    group_by: str = "material_id",
    batch_rows: int = 1024,
    sample_points: int = SAMPLE_POINTS,
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per-group and overall softening scale, force MAE/cMAE, energy-per-atom and stress errors.

    Args:
        dataset_path: reference (DFT) dataset.
        predictions_path: predictions dataset made by ``curate predict`` on that dataset.
        model: name of the model in the predictions dataset (its spec, e.g. ``chgnet@0.3.0``).
        group_by: column to group rows by (material_id by default); rows with a null value form one group.
        sample_points: points kept per parity panel (uniform sample, seeded with ``seed``).

    Returns:
        (report, samples): the JSON-serialisable report, and (DFT, predicted) arrays for the parity plot under
        ``forces``, ``energy_per_atom`` (eV/atom) and ``stress`` (GPa).
    """
    dataset = Dataset.open(dataset_path)
    predictions = Predictions(predictions_path)
    check_group_by(group_by)
    if predictions.manifest["reference"].get("content_hash") != dataset.content_hash:
        raise DatasetError(f"{predictions.path}: predictions were made for another dataset content than {dataset.path}")
    started = time.perf_counter()
    stats: dict[str, GroupStats] = {}
    overall = GroupStats()
    for groups, ref, pred in _stream(dataset, predictions, model, group_by, batch_rows):
        for _, group, x, y, other in _pass_rows(groups, ref, pred):
            for target in (stats.setdefault(group, GroupStats()), overall):
                target.add_structure(other["nsites"], (x, y), other["energy"], other["stress"])
    rng = np.random.default_rng(seed)
    samples = {name: _Sample.empty(sample_points, rng) for name in ("forces", "energy_per_atom", "stress")}
    for groups, ref, pred in _stream(dataset, predictions, model, group_by, batch_rows):
        _second_pass(groups, ref, pred, stats, overall, samples)
    group_rows = [{"group": g, **s.summary()} for g, s in sorted(stats.items())]
    slopes = [s.slope for s in stats.values()]
    report = {
        "kind": "softening",
        "model": predictions.model_info(model),
        "reference": {
            "path": str(dataset.path.resolve()),
            "content_hash": dataset.content_hash,
            "num_rows": dataset.num_rows,
        },
        "predictions": {"path": str(predictions.path.resolve())},
        "group_by": group_by,
        "definition": "softening_scale a = sum(x*y)/sum(x*x), x = DFT force components, y = predicted "
        "(least squares through the origin); cMAE = mean |y/a - x|",
        "overall": overall.summary(),
        "groups_total": len(stats),
        "groups_with_slope": sum(s is not None for s in slopes),
        "share_groups_slope_below_1": share_below_one(slopes),
        "groups": group_rows,
        "parameters": {"batch_rows": batch_rows, "sample_points": sample_points, "seed": seed},
        "seconds": round(time.perf_counter() - started, 3),
        "created_with": {"curate": __version__},
    }
    return report, {name: (s.x, s.y) for name, s in samples.items()}


def _fmt(value: Any, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def report_markdown(report: dict[str, Any], *, plot_name: str | None = None, max_groups: int = 50) -> str:
    """Markdown summary of a softening report: overall numbers, share of softened groups, per-group table."""
    o = report["overall"]
    share = report["share_groups_slope_below_1"]
    lines = [
        f"# Softening of {report['model']['name']} ({report['model']['library']})",
        "",
        f"Reference: `{report['reference']['path']}` ({report['reference']['num_rows']} rows, content hash "
        f"{report['reference']['content_hash'][:16]}); groups by `{report['group_by']}`.",
        "",
        f"- softening scale (slope of predicted vs DFT forces through the origin): **{_fmt(o['softening_scale'])}**",
        f"- force MAE: {_fmt(o['force_mae_ev_per_ang'])} eV/Å; cMAE (predictions / slope): "
        f"{_fmt(o['force_cmae_ev_per_ang'])} eV/Å",
        f"- energy MAE: {_fmt(o['energy_per_atom_mae_ev'])} eV/atom; stress MAE: {_fmt(o['stress_mae_gpa'])} GPa",
        f"- groups with slope < 1: {_fmt(None if share is None else 100 * share, 1)} % of "
        f"{report['groups_with_slope']} groups with a defined slope ({report['groups_total']} groups)",
        "",
    ]
    if plot_name:
        lines += [f"![parity plot]({plot_name})", ""]
    lines += [
        f"| {report['group_by']} | structures | atoms | slope | force MAE (eV/Å) | cMAE (eV/Å) | energy MAE (eV/atom) "
        "| stress MAE (GPa) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for g in report["groups"][:max_groups]:
        lines.append(
            f"| {g['group']} | {g['structures']} | {g['atoms']} | {_fmt(g['softening_scale'])} "
            f"| {_fmt(g['force_mae_ev_per_ang'])} | {_fmt(g['force_cmae_ev_per_ang'])} "
            f"| {_fmt(g['energy_per_atom_mae_ev'])} | {_fmt(g['stress_mae_gpa'])} |"
        )
    if len(report["groups"]) > max_groups:
        lines.append(f"\n{len(report['groups']) - max_groups} more groups in the JSON report.")
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out_dir: Path, *, stem: str = "softening") -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(report_markdown(report, plot_name=report.get("plot")))
    return json_path, md_path
