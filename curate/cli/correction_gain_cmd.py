"""``curate correction-gain``: does a correction set beat random sets of its size drawn from the same pool?"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

import curate.cli.ood_options as ood_cli
from curate.cli.options import FiniteFloatRange, device_option, max_atoms_option, model_option, out_option
from curate.cli.training_options import training_options
from curate.training.settings import FINETUNE_METHODS, METHOD_HELP, FinetuneMethod, TrainingSettings

DATASET = click.Path(path_type=Path)


@click.command("correction-gain")
@click.option("--pool", required=True, type=DATASET, help="Dataset the random sets are drawn from.")
@click.option("--correction", required=True, type=DATASET, help="The chosen correction set (e.g. curate sample picks).")
@click.option("--benchmark", required=True, type=DATASET, help="Held-out labelled dataset every model is evaluated on.")
@model_option(help="The model to fine-tune (chgnet@0.3.0, chgnet:FILE, mace:FILE, matgl:DIR).")
@click.option(
    "--method",
    type=click.Choice(FINETUNE_METHODS),
    default="linear",
    show_default=True,
    help="; ".join(f"{k}: {v}" for k, v in METHOD_HELP.items()) + ".",
)
@click.option(
    "--repeats",
    default=5,
    show_default=True,
    type=click.IntRange(min=2),
    help="Random sets of the correction set's size drawn from the pool (mean ± std needs 2).",
)
@out_option("Folder for validation.json, validation.md and validation.png.", file_okay=False)
@click.option(
    "--val-fraction",
    default=None,
    type=FiniteFloatRange(0.0, 1.0, max_open=True),
    help="Share of each training set held out to pick the best epoch (default: none, the last epoch is kept).",
)
@training_options()
@ood_cli.ood_options()
@device_option
@max_atoms_option
def command(
    pool: Path,
    correction: Path,
    benchmark: Path,
    model: str,
    method: FinetuneMethod,
    repeats: int,
    out: Path,
    val_fraction: float | None,
    settings: TrainingSettings,
    ood: ood_cli.OodRequest,
    device: str,
    max_atoms_per_batch: int | None,
) -> None:
    """Fine-tune --model on the correction set and on random sets of its size; compare on a benchmark.

    \b
    Fine-tunes the model (--method, training options) on the correction set and on --repeats random sets of
    the same size drawn from the pool (seeded by --seed), evaluates every fine-tuned model and the untouched
    one on the held-out benchmark (softening scale, force/energy/stress MAE, cMAE), and reports before/after
    per set and gain = random error - correction error as mean ± std (for the softening scale the error
    is |1 - a|). Prints a Markdown table; writes OUT/validation.json, validation.md, validation.png.
    With --method linear it also recommends a model: the untouched one when no scale can lower the
    benchmark force MAE by 3 % (cMAE against MAE: "a scale correction will not help"), or when the
    correction set barely determines its scale or fails its own leave-one-out check; else the corrected one.
    Refuses a correction set larger than the pool, pool or correction structures inside the benchmark,
    and rows without energy or forces. The untouched model and the correction set's model are also evaluated
    out of domain (the default parts and every --ood dataset, each on its own) with a verdict.

    \b
    Example:
      curate correction-gain --pool pool --correction picked --benchmark held-out \\
          -m chgnet@0.3.0 --method linear --repeats 5 --out gain
    """
    from curate.experiments.correction_gain import load_role, run_correction_gain
    from curate.experiments.correction_report import report_markdown, write_report

    result = run_correction_gain(
        pool=load_role(pool, "--pool"),
        correction=load_role(correction, "--correction"),
        benchmark=load_role(benchmark, "--benchmark"),
        model_spec=model,
        method=method,
        settings=settings,
        repeats=repeats,
        val_fraction=val_fraction,
        device=device,
        max_atoms_per_batch=max_atoms_per_batch,
        on_progress=lambda line: click.echo(line, err=True),
        ood_parts=ood_cli.ood_parts(ood),
        ood_threshold_percent=ood.threshold_percent,
    )
    report = {**result.as_dict(), "command": shlex.join(["curate", *sys.argv[1:]])}
    written = write_report(report, out)
    click.echo(report_markdown(report), nl=False)
    click.echo(f"report: {written['json']}", err=True)
