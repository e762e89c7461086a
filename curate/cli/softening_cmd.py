"""``curate softening``: per-group softening scale of a uMLIP against the dataset's DFT forces."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import click

from curate.cli.predict_cmd import model_options

REPORT_FILES = ("softening.json", "softening.md", "softening_parity.png")


@click.command("softening")
@click.argument("dataset", type=click.Path(path_type=Path))
@model_options(multiple=False)
@click.option("--group-by", default="material_id", show_default=True, help="Column whose values form the groups.")
@click.option(
    "--predictions",
    type=click.Path(path_type=Path),
    default=None,
    help="Predictions directory: reused when it already holds this model for this dataset, else written there "
    "(default: a temporary directory, removed afterwards).",
)
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    default=Path("softening-report"),
    show_default=True,
    help="Where softening.json, softening.md and softening_parity.png go.",
)
@click.option(
    "--dataset-report",
    is_flag=True,
    help="Also copy the report and plot into DATASET/reports/ (shown on the dataset card by curate publish).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the point sample drawn in the plot.")
def command(
    dataset: Path,
    model: str,
    device: str,
    max_atoms_per_batch: int | None,
    group_by: str,
    predictions: Path | None,
    out_dir: Path,
    dataset_report: bool,
    seed: int,
) -> None:
    """Softening scale of --model on DATASET, per group and overall, with a parity plot.

    \b
    softening scale a = sum(x y) / sum(x x): the least-squares slope of predicted (y) vs DFT (x) force
    components through the origin; a < 1 means the model's energy surface is softer than DFT's.
    Also reported: force MAE and cMAE = mean |y/a - x| (eV/A), energy MAE (eV/atom), stress MAE (GPa),
    and the share of groups with a < 1. The Markdown summary goes to stdout.

    \b
    Example:
      curate softening si64 --model chgnet@0.3.0 --out-dir si64-softening
    """
    from curate.dataset.store import Dataset
    from curate.diagnostics.parity import parity_figure
    from curate.diagnostics.softening_report import report_markdown, softening_report, write_report
    from curate.models import load_model, max_atoms_for, parse_spec
    from curate.models.predictions import Predictions
    from curate.models.run import predict_dataset

    reference = Dataset.open(dataset)
    from curate.dataset.schema import row_schema

    if group_by not in row_schema().names:
        from curate.errors import ConfigurationError

        raise ConfigurationError(f"--group-by {group_by!r} is not a column; columns: {', '.join(row_schema().names)}")
    name = parse_spec(model).text
    with tempfile.TemporaryDirectory(prefix="curate-softening-") as scratch:
        pred_dir = predictions or Path(scratch) / "predictions"
        existing = Predictions(pred_dir) if (pred_dir / "manifest.json").is_file() else None
        reuse = (
            existing is not None
            and name in existing.model_names
            and existing.manifest.get("complete")
            and existing.manifest["reference"].get("content_hash") == reference.content_hash
        )
        if not reuse:
            loaded = load_model(model, device=device)
            click.echo(f"predicting {reference.num_rows} rows with {name} -> {pred_dir}", err=True)
            predict_dataset(
                dataset,
                [loaded],
                pred_dir,
                max_atoms_per_batch=max_atoms_per_batch or max_atoms_for([loaded]),
                command="curate softening",
            )
        report, samples = softening_report(dataset, pred_dir, name, group_by=group_by, seed=seed)
        if predictions is None:
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
    report["command"] = " ".join(["curate", *sys.argv[1:]])
    json_path, _ = write_report(report, out_dir)
    if dataset_report:
        target = reference.path / "reports"
        target.mkdir(exist_ok=True)
        for name in REPORT_FILES:
            shutil.copyfile(out_dir / name, target / name)
    click.echo(report_markdown(report, plot_name=plot.name), nl=False)
    click.echo(f"report: {json_path} ({json.dumps(overall['softening_scale'])} overall softening scale)", err=True)
