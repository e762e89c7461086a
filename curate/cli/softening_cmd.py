"""``curate softening``: per-group softening scale of a uMLIP against the dataset's DFT forces."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from curate.cli.options import (
    CurateCommand,
    attach_option,
    device_option,
    max_atoms_option,
    model_option,
    out_option,
    seed_option,
)


@click.command("softening", cls=CurateCommand, renamed={"--out-dir": "--out", "--dataset-report": "--attach"})
@click.argument("dataset", type=click.Path(path_type=Path))
@model_option()
@device_option
@max_atoms_option
@click.option("--group-by", default="material_id", show_default=True, help="Column whose values form the groups.")
@click.option(
    "--predictions",
    type=click.Path(path_type=Path),
    default=None,
    help="Predictions directory: reused when it already holds this model for this dataset, else written there "
    "(default: a temporary directory, removed afterwards).",
)
@out_option(
    "Where softening.json, softening.md and softening_parity.png go.", default=Path("softening-report"), file_okay=False
)
@attach_option("DATASET")
@seed_option("Seed of the point sample drawn in the plot.")
def command(
    dataset: Path,
    model: str,
    device: str,
    max_atoms_per_batch: int | None,
    group_by: str,
    predictions: Path | None,
    out: Path,
    attach: bool,
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
      curate softening si64 --model chgnet@0.3.0 --out si64-softening
    """
    from curate.diagnostics.softening_report import report_markdown
    from curate.diagnostics.softening_run import measure_softening

    report, json_path = measure_softening(
        dataset,
        model,
        out,
        predictions_dir=predictions,
        device=device,
        max_atoms_per_batch=max_atoms_per_batch,
        group_by=group_by,
        seed=seed,
        attach=attach,
        command=" ".join(["curate", *sys.argv[1:]]),
        on_message=lambda line: click.echo(line, err=True),
    )
    click.echo(report_markdown(report, plot_name=report["plot"]), nl=False)
    scale = json.dumps(report["overall"]["softening_scale"])
    click.echo(f"report: {json_path} ({scale} overall softening scale)", err=True)
