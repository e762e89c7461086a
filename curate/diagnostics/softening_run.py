"""A softening measurement end to end: predictions (made or reused), the report, its parity plot, its files."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curate.dataset.paths import reports_folder
from curate.dataset.store import Dataset
from curate.models.predictions import Predictions

REPORT_FILES = ("softening.json", "softening.md", "softening_parity.png")


def ensure_predictions(
    dataset: Dataset,
    model_spec: str,
    predictions_dir: Path,
    *,
    device: str | None = None,
    max_atoms_per_batch: int | None = None,
    command: str = "curate softening",
    on_message: Callable[[str], None] = lambda _: None,
) -> str:
    """Predictions of ``model_spec`` for ``dataset`` in ``predictions_dir``; returns the model's name there.

    Predictions already there are reused when they are complete, hold this model and were made for this
    dataset content; otherwise the model is loaded on ``device`` and the folder (re)written.
    """
    from curate.models import load_model, max_atoms_for, parse_spec
    from curate.models.run import predict_dataset

    name = parse_spec(model_spec).text
    existing = Predictions(predictions_dir) if (predictions_dir / "manifest.json").is_file() else None
    if (
        existing is not None
        and name in existing.model_names
        and existing.manifest.get("complete")
        and existing.manifest["reference"].get("content_hash") == dataset.content_hash
    ):
        return name
    loaded = load_model(model_spec, device=device)
    on_message(f"predicting {dataset.num_rows} rows with {name} -> {predictions_dir}")
    predict_dataset(
        dataset.path,
        [loaded],
        predictions_dir,
        max_atoms_per_batch=max_atoms_per_batch or max_atoms_for([loaded]),
        command=command,
    )
    return name


def measure_softening(
    dataset_dir: Path,
    model_spec: str,
    out_dir: Path,
    *,
    predictions_dir: Path | None = None,
    device: str | None = None,
    max_atoms_per_batch: int | None = None,
    group_by: str = "material_id",
    seed: int = 0,
    attach: bool = False,
    command: str | None = None,
    on_message: Callable[[str], None] = lambda _: None,
) -> tuple[dict[str, Any], Path]:
    """Softening report of ``model_spec`` on the dataset at ``dataset_dir``, written to ``out_dir``.

    Writes softening.json, softening.md and softening_parity.png (forces eV/A, energy eV/atom, stress GPa) into
    ``out_dir`` and, with ``attach``, copies them into DATASET/reports/. Predictions go to ``predictions_dir``
    (reused when it already holds this model for this content; default: a temporary folder, removed).
    ``group_by`` is the column whose values form the groups; ``seed`` draws the plotted points.
    ``command`` is recorded in the report. Returns the report and the JSON path.
    """
    from curate.diagnostics.parity import parity_figure
    from curate.diagnostics.softening_report import check_group_by, softening_report, write_report

    check_group_by(group_by)
    reference = Dataset.open(dataset_dir)
    with tempfile.TemporaryDirectory(prefix="curate-softening-") as scratch:
        pred_dir = predictions_dir or Path(scratch) / "predictions"
        name = ensure_predictions(
            reference,
            model_spec,
            pred_dir,
            device=device,
            max_atoms_per_batch=max_atoms_per_batch,
            on_message=on_message,
        )
        report, samples = softening_report(dataset_dir, pred_dir, name, group_by=group_by, seed=seed)
        if predictions_dir is None:
            report["predictions"] = {"path": None, "note": "temporary, removed after the report"}
    overall = report["overall"]
    plot = parity_figure(
        out_dir / "softening_parity.png",
        forces=samples["forces"],
        energies_per_atom=samples["energy_per_atom"],
        stresses=samples["stress"],
        slope=overall["softening_scale"],
        force_mae=overall["force_mae_ev_per_ang"],
        force_cmae=overall["force_cmae_ev_per_ang"],
        title=f"{name} vs DFT: {reference.path.name} ({reference.num_rows} structures)",
    )
    report["plot"] = plot.name
    report["command"] = command
    json_path, _ = write_report(report, out_dir)
    if attach:
        target = reports_folder(reference.path, REPORT_FILES)
        for file_name in REPORT_FILES:
            shutil.copyfile(out_dir / file_name, target / file_name)
    return report, json_path
