"""``curate scaling``: validation error against training-set size for GGA -> r2SCAN transfer-learning methods."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from curate.cli.options import (
    SHARES,
    CommaList,
    CurateCommand,
    device_option,
    max_atoms_option,
    model_option,
    out_option,
    overwrite_option,
)
from curate.cli.training_options import training_options
from curate.experiments.scaling import METHOD_HELP, R2SCAN_SETTINGS, SCALING_METHODS
from curate.training.settings import TrainingSettings


def _train_and_val(
    _ctx: click.Context, _param: click.Parameter, value: tuple[float, float, float]
) -> tuple[float, float, float]:
    """The shares, when training and validation get some (the test split may be empty)."""
    if value[0] <= 0 or value[1] <= 0:
        raise click.BadParameter(f"TRAIN and VAL shares must be > 0, got {':'.join(f'{v:g}' for v in value)}")
    return value


def _command_line(ctx: click.Context) -> str:
    """The command with every option spelled out (defaults included), so it reruns the same experiment."""
    words = ["curate", "scaling"]
    for name, value in ctx.params.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            words.append(flag)
        elif name == "split":
            words += [flag, ":".join(f"{v:g}" for v in value)]
        elif isinstance(value, tuple):
            words += [flag, ",".join(map(str, value))]
        else:
            words += [flag, shlex.quote(str(value))]
    return " ".join(words)


_METHODS_TEXT = "\n".join(f"      {m:<17} {METHOD_HELP[m]}" for m in SCALING_METHODS)


@click.command("scaling", cls=CurateCommand, renamed={"--pretrained": "--model"})
@model_option(
    required=False,
    default="chgnet@0.3.0",
    help="The GGA-pretrained model: chgnet@VERSION, chgnet:FILE, mace:FILE or matgl:DIR (any architecture with a "
    "fine-tuner).",
)
@click.option(
    "--target",
    required=True,
    type=click.Path(path_type=Path),
    help="Curate dataset of target-functional (r2SCAN) labels.",
)
@click.option(
    "--sizes",
    required=True,
    type=CommaList(click.IntRange(min=1), unique=True, sort=True),
    help="Training-set sizes N (structures), e.g. 100,300,1000.",
)
@click.option(
    "--methods",
    default=",".join(SCALING_METHODS),
    show_default=True,
    type=CommaList(click.Choice(SCALING_METHODS), unique=True),
    help="Methods (see above).",
)
@out_option("Folder for results.parquet, scaling.json, scaling.md, scaling.png.", file_okay=False)
@click.option(
    "--split",
    "split",
    default="8:1:1",
    show_default=True,
    type=SHARES,
    callback=_train_and_val,
    help="train:validation:test shares, split by material.",
)
@click.option(
    "--split-seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seeds the split and the order the nested training subsets are taken in.",
)
@training_options(defaults=R2SCAN_SETTINGS, atomref=False, heads=False)
@device_option
@max_atoms_option
@click.option(
    "--fit-min-n",
    type=click.IntRange(min=1),
    default=None,
    help="Fit the power law only to points with N >= this (default: all).",
)
@overwrite_option(
    "Discard points in --out from another configuration (settings, split, model or target) instead of refusing."
)
def command(
    model: str,
    target: Path,
    sizes: tuple[int, ...],
    methods: tuple[str, ...],
    out: Path,
    split: tuple[float, float, float],
    split_seed: int,
    device: str,
    max_atoms_per_batch: int | None,
    fit_min_n: int | None,
    overwrite: bool,
    settings: TrainingSettings,
) -> None:
    """Scaling law of GGA -> r2SCAN transfer: validation MAE against training-set size N, per method.

    \b
    The target is split by material (--split, --split-seed); training subsets are nested (N=100 inside
    N=300: prefixes of one seeded permutation of the training split); N above the training split is refused.
    Every (method, N) point trains all weights with the settings below (defaults: the chgnet@r2scan recipe,
    Huber loss, weights energy 3 / force 1 / stress 0.1, lr 1e-3 cosine to 1e-5; 50 epochs) and is evaluated
    on the validation and test splits: energy MAE (eV/atom), force MAE (eV/A), stress MAE (GPa).
    Methods:
    {methods}

    \b
    Each finished point is saved at once in OUT/results.parquet: re-running the same command skips the points
    already there (key: method, N, seed, settings hash, target content hash), so a killed run resumes; a changed
    setting is refused unless --overwrite. Then per method, log10(MAE) = intercept + slope * log10(N) is fitted
    (numpy.polyfit) to validation energy and force MAE: slope is the scaling exponent. Writes scaling.json
    (provenance, points, fits), scaling.md (printed to stdout) and scaling.png (log-log, fits dashed).
    Progress, one line per point, goes to stderr.

    \b
    Example:
      curate scaling --target r2scan-set --sizes 100,300,1000,3000 --out scaling-run
    """
    from curate.experiments.scaling import ScalingPlan, load_pretrained, run_scaling
    from curate.experiments.scaling_report import report_markdown, scaling_report, write_report
    from curate.models.base import select_device
    from curate.training.data import load_training_set

    plan = ScalingPlan(methods=methods, sizes=sizes, settings=settings, split_fractions=split, split_seed=split_seed)
    resolved = select_device(device)
    data = load_training_set(target)
    click.echo(f"target {target}: {len(data)} structures; loading {model} on {resolved}", err=True)
    pretrained = load_pretrained(model, device=resolved)
    info = pretrained.info
    run = run_scaling(
        data,
        pretrained=pretrained,
        base=info,
        plan=plan,
        out=out,
        device=resolved,
        overwrite=overwrite,
        max_atoms_per_batch=max_atoms_per_batch,
        log=lambda message: click.echo(message, err=True),
    )
    report = scaling_report(
        run.table_rows,
        plan=plan,
        base=info,
        target=data,
        split=run.split,
        command=_command_line(click.get_current_context()),
        device=resolved,
        fit_min_n=fit_min_n,
    )
    json_path, _, png = write_report(report, out)
    click.echo(report_markdown(report, plot_name=png.name), nl=False)
    for method, fit in report["fits"].items():
        slopes = ", ".join(f"{q} {f['slope']:.3f}" for q, f in fit.items() if "slope" in f)
        click.echo(f"{method}: slope {slopes or '(not fitted)'}", err=True)
    click.echo(
        f"report: {json_path} ({run.computed} point(s) trained now, {len(run.table_rows)} in the table)", err=True
    )


command.help = (command.help or "").replace("    {methods}", _METHODS_TEXT)
