"""``curate validate``: the quality gate over a dataset, or the correction-set experiment (two modes, one name)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from curate.checks.quality import MIN_DISTANCE_FACTOR
from curate.cli.options import device_option, max_atoms_option
from curate.cli.training_options import SETTING_NAMES, training_options
from curate.models.registry import SPEC_HELP
from curate.training.settings import FINETUNE_METHODS, METHOD_HELP

TWO_MODES = (
    "curate validate has two modes:\n"
    "  curate validate DIR [--strict]                          the quality gate over the dataset DIR\n"
    "  curate validate --pool P --correction C --benchmark B -m SPEC --out OUT\n"
    "                                                          the correction set C vs random sets from P\n"
    "Give either DIR or --pool/--correction/--benchmark"
)
GATE_ONLY = ("strict", "min_distance_factor")
EXPERIMENT_REQUIRED = ("pool", "correction", "benchmark", "model", "out")
EXPERIMENT_ONLY = (
    "model",
    "method",
    "repeats",
    "out",
    "val_fraction",
    "device",
    "max_atoms_per_batch",
    *SETTING_NAMES,
)


def _path_option(name: str, text: str):  # type: ignore[no-untyped-def]
    return click.option(name, default=None, type=click.Path(path_type=Path), help=text)


@click.command("validate")
@click.argument("dataset_dir", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Gate: exit with status 1 when any error-level finding exists.")
@click.option(
    "--min-distance-factor",
    default=MIN_DISTANCE_FACTOR,
    show_default=True,
    type=float,
    help="Gate: atoms closer than this x the sum of covalent radii are an error.",
)
@_path_option("--pool", "Experiment: dataset the random sets are drawn from.")
@_path_option("--correction", "Experiment: dataset of the chosen correction set (e.g. from curate sample).")
@_path_option("--benchmark", "Experiment: held-out labelled dataset every model is evaluated on.")
@click.option("--model", "-m", default=None, help="Experiment: the model to fine-tune. " + SPEC_HELP)
@click.option(
    "--method",
    type=click.Choice(FINETUNE_METHODS),
    default="linear",
    show_default=True,
    help="Experiment: " + "; ".join(f"{k}: {v}" for k, v in METHOD_HELP.items()) + ".",
)
@click.option(
    "--repeats",
    default=5,
    show_default=True,
    type=click.IntRange(min=2),
    help="Experiment: random sets of the correction set's size drawn from the pool (mean ± std needs 2).",
)
@_path_option("--out", "Experiment: folder for validation.json, validation.md and validation.png.")
@click.option(
    "--val-fraction",
    default=None,
    type=click.FloatRange(0.0, 1.0, max_open=True),
    help="Experiment: share of each training set held out to pick the best epoch (default: none, last epoch).",
)
@training_options()
@device_option
@max_atoms_option
@click.pass_context
def command(ctx: click.Context, dataset_dir: Path | None, **options: object) -> None:
    """Quality gate over a dataset, or proof that a correction set beats random data.

    \b
    Mode 1, quality gate: curate validate DIR [--strict]
    Checks every row of the dataset DIR and prints what is wrong, where.
    Errors (rows that should not be trained on):
      shape-and-finite   NaN/inf, wrong array shapes, unknown elements, zero-volume cells
      min-distance       two atoms closer than --min-distance-factor x sum of covalent radii
      stress-magnitude   |stress| > 500 GPa (a kBar value stored as GPa?)
      energy-magnitude   |energy per atom| > 100 eV (not eV?)
      force-magnitude    a force > 100 eV/A (Hartree/bohr?)
      duplicate-ids      the same content twice
    Warnings (look, then decide):
      all-zero-forces    every component exactly 0 (real for high-symmetry sites)
      missing-labels     no energy, forces or stress
      stress-unit        median |pressure| > 20 GPa over the dataset
    Exit status is 0 unless --strict is given and errors were found (then 1).
    Example:
      curate validate si64 --strict

    \b
    Mode 2, correction experiment: --pool P --correction C --benchmark B -m SPEC --out OUT
    Fine-tunes SPEC (--method, training options) on the correction set C and on --repeats random sets of
    the same size drawn from P (seeded by --seed), evaluates every fine-tuned model and the untouched one
    on the held-out benchmark B (softening scale, force/energy/stress MAE, cMAE), and reports before/after
    per set and gain = random error - correction error as mean ± std (for the softening scale the error
    is |1 - a|). Prints a Markdown table; writes OUT/validation.json, validation.md, validation.png.
    Refuses a correction set larger than the pool, pool or correction structures inside the benchmark,
    and rows without energy or forces.
    Example:
      curate validate --pool pool --correction picked --benchmark held-out \\
          -m chgnet@0.3.0 --method linear --repeats 5 --out gain
    """
    experiment_given = [name for name in ("pool", "correction", "benchmark") if options[name] is not None]
    if dataset_dir is not None and experiment_given:
        raise click.UsageError(f"DIR and --{'/--'.join(experiment_given)} were both given. {TWO_MODES}.", ctx)
    if dataset_dir is None and not experiment_given:
        raise click.UsageError(f"no DIR and no --pool/--correction/--benchmark. {TWO_MODES}.", ctx)
    mode_only = EXPERIMENT_ONLY if dataset_dir is not None else GATE_ONLY
    misplaced = [name for name in mode_only if _given(ctx, name)]
    if misplaced:
        flags = ", ".join("--" + name.replace("_", "-") for name in misplaced)
        which = "the correction experiment" if dataset_dir is not None else "the quality gate (DIR)"
        raise click.UsageError(f"{flags}: only for {which}. {TWO_MODES}.", ctx)
    if dataset_dir is not None:
        factor = float(options["min_distance_factor"])  # type: ignore[arg-type]
        _quality_gate(dataset_dir, strict=bool(options["strict"]), min_distance_factor=factor)
        return
    missing = [name for name in EXPERIMENT_REQUIRED if options[name] is None]
    if missing:
        flags = ", ".join("--" + name for name in missing)
        raise click.UsageError(f"the correction experiment also needs {flags}. {TWO_MODES}.", ctx)
    _correction_experiment(options)


def _given(ctx: click.Context, name: str) -> bool:
    """True when the user typed the option (not its default; ctx.invoke from another command passes defaults)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source not in (
        click.core.ParameterSource.DEFAULT,
        click.core.ParameterSource.DEFAULT_MAP,
    )


def _quality_gate(dataset_dir: Path, *, strict: bool, min_distance_factor: float) -> None:
    from curate.checks.validation import validate_dataset
    from curate.dataset.store import Dataset

    report = validate_dataset(Dataset.open(dataset_dir), min_distance_factor=min_distance_factor)
    click.echo(f"{dataset_dir}: {report.rows} rows checked, {report.errors} error(s), {report.warnings} warning(s)")
    for (check, severity), count in sorted(report.counts.items(), key=lambda kv: (kv[0][1] != "error", kv[0][0])):
        click.echo(f"  {severity:<7} {check:<18} {count:>8} rows")
        for example in report.examples[(check, severity)]:
            where = f"{example.source_file or '?'} {example.source_record or ''}".strip()
            click.echo(f"      {example.row_id[:12]}  {where}: {example.finding.reason}")
    for finding in report.dataset_findings:
        click.echo(f"  {finding.severity:<7} {finding.check:<18} {finding.reason}")
    if strict and report.errors:
        raise SystemExit(1)


def _correction_experiment(options: dict[str, object]) -> None:
    from curate.cli.training_options import settings_from_options
    from curate.experiments.correction_gain import load_role, run_correction_gain
    from curate.experiments.correction_report import report_markdown, write_report
    from curate.training.settings import check_method

    settings = settings_from_options(options)
    pool = load_role(options["pool"], "--pool")  # type: ignore[arg-type]
    correction = load_role(options["correction"], "--correction")  # type: ignore[arg-type]
    benchmark = load_role(options["benchmark"], "--benchmark")  # type: ignore[arg-type]
    result = run_correction_gain(
        pool=pool,
        correction=correction,
        benchmark=benchmark,
        model_spec=str(options["model"]),
        method=check_method(str(options["method"])),
        settings=settings,
        repeats=int(options["repeats"]),  # type: ignore[call-overload]
        val_fraction=options["val_fraction"],  # type: ignore[arg-type]
        device=str(options["device"]),
        max_atoms_per_batch=options["max_atoms_per_batch"],  # type: ignore[arg-type]
        on_progress=lambda line: click.echo(line, err=True),
    )
    report = {**result.as_dict(), "command": shlex.join(["curate", *sys.argv[1:]])}
    written = write_report(report, Path(options["out"]))  # type: ignore[arg-type]
    click.echo(report_markdown(report), nl=False)
    click.echo(f"report: {written['json']}", err=True)
