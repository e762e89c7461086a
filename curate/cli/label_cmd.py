"""``curate label``: the DFT bridge (VASP inputs) or labels from a calculator."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from curate.cli.options import (
    CurateCommand,
    device_option,
    execution_options,
    functional_option,
    model_option,
    out_option,
    task_rows_option,
)
from curate.errors import ConfigurationError
from curate.execution import ExecutorKind
from curate.labelling.vasp_inputs import INPUT_SETS, Functional, InputSet

VASP_FUNCTIONALS = ("PBE", "r2SCAN")


@click.command("label", cls=CurateCommand, renamed={"--calculator": "--model"})
@click.argument("dataset_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "--vasp-inputs",
    "vasp_out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write one VASP input folder per row here (INCAR, KPOINTS, POSCAR, POTCAR or POTCAR.spec).",
)
@functional_option(
    "PBE: MPStaticSet (GGA, +U where the Materials Project applies it); r2SCAN: MPScanStaticSet.",
    choices=VASP_FUNCTIONALS,
    default="PBE",
    show_default=True,
)
@click.option(
    "--input-set",
    type=click.Choice(INPUT_SETS),
    default="mp",
    show_default=True,
    help="mp: Materials Project static sets; matpes: MatPESStaticSet with the chosen functional.",
)
@model_option(
    required=False, help="Label with a calculator instead: emt, or a model spec (chgnet@0.3.0, mace:FILE, matgl:DIR)."
)
@out_option("Dataset for --model labels (created or appended to).", required=False, file_okay=False)
@device_option
@task_rows_option(default=32, what="--model: one model batch; a worker loads a model once and keeps it")
@execution_options(workers_help="Worker processes for --model labels  [default: in-process]")
def command(
    dataset_dir: Path,
    vasp_out: Path | None,
    functional: str,
    input_set: InputSet,
    model: str | None,
    out: Path | None,
    device: str,
    task_rows: int,
    executor: ExecutorKind | None,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Turn the rows of DIR (e.g. `curate sample` picks) into calculations.

    \b
    DFT: write Materials-Project-compatible VASP inputs, one folder per row, each with a curate.json
    naming the row. Run VASP in each folder, then bring the results back with
      curate import vasp OUT --out LABELLED
    and every imported step has parent_id = the row it was written for.
    Without a POTCAR library (pymatgen's PMG_VASP_PSP_DIR) POTCAR.spec lists the symbols instead.

    \b
    Calculator: label with ASE's EMT or a uMLIP (a teacher model) for experiments and tests:
      curate label picks --model emt --out picks-emt
    Such labels record functional=EMT or model:SPEC, never a DFT functional. Rows are labelled --task-rows at
    a time, in-process or on workers (--workers N, --executor dask, --scheduler ADDRESS): same labels either way.
    """
    if vasp_out is not None and model is None:
        _vasp_inputs(dataset_dir, vasp_out, functional=functional, input_set=input_set)
        return
    if model is None or vasp_out is not None:
        raise ConfigurationError("give exactly one of --vasp-inputs OUT or --model SPEC")
    if out is None:
        raise ConfigurationError("--model needs --out DIR for the labelled dataset")
    from curate.execution import open_executor
    from curate.labelling.calculator import label_dataset

    with open_executor(executor, scheduler=scheduler, workers=workers) as engine:
        report = label_dataset(dataset_dir, out, model, device=device, executor=engine, rows_per_task=task_rows)
    click.echo(
        f"{report.rows_added} row(s) labelled by {model} into {out}"
        f" ({report.duplicates} already there, {report.quarantined} quarantined)"
    )


def _vasp_inputs(dataset_dir: Path, out: Path, *, functional: str, input_set: InputSet) -> None:
    """One VASP input folder per row of ``dataset_dir`` in ``out``; says so, and when POTCARs are missing."""
    from curate.labelling.provenance import read_rows
    from curate.labelling.vasp_inputs import write_vasp_inputs

    # the library names its functionals as the functional column does, in lower case
    library_name = cast(Functional, functional.lower())
    report = write_vasp_inputs(read_rows(dataset_dir), out, functional=library_name, input_set=input_set)
    click.echo(f"{len(report.folders)} VASP input folder(s) written to {out} ({input_set} {library_name})")
    if not report.potcar_written:
        click.echo(
            "no POTCAR library configured (pymatgen setting PMG_VASP_PSP_DIR): wrote POTCAR.spec with the "
            "POTCAR symbols instead of POTCAR; set PMG_VASP_PSP_DIR and re-run to get POTCARs",
            err=True,
        )
