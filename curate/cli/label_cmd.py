"""``curate label``: the DFT bridge (VASP inputs) or labels from a calculator."""

from __future__ import annotations

from pathlib import Path

import click

from curate.cli.options import execution_options, task_rows_option
from curate.errors import ConfigurationError

_FUNCTIONALS = ("pbe", "r2scan")
_INPUT_SETS = ("mp", "matpes")


@click.command("label")
@click.argument("dataset_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "--vasp-inputs",
    "vasp_out",
    type=click.Path(path_type=Path),
    help="Write one VASP input folder per row here (INCAR, KPOINTS, POSCAR, POTCAR or POTCAR.spec).",
)
@click.option(
    "--functional",
    type=click.Choice(_FUNCTIONALS),
    default="pbe",
    show_default=True,
    help="pbe: MPStaticSet (GGA/GGA+U as MP); r2scan: MPScanStaticSet.",
)
@click.option(
    "--input-set",
    type=click.Choice(_INPUT_SETS),
    default="mp",
    show_default=True,
    help="mp: Materials Project static sets; matpes: MatPESStaticSet with the chosen functional.",
)
@click.option(
    "--calculator",
    "calculator_spec",
    help="Label with a calculator instead: emt, or a model spec (chgnet@0.3.0, mace:FILE, matgl:DIR).",
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Dataset for --calculator labels.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto (for model calculators).")
@task_rows_option(default=32, what="--calculator: one model batch; a worker loads a model once and keeps it")
@execution_options(workers_help="Worker processes for --calculator labels  [default: in-process]")
def command(
    dataset_dir: Path,
    vasp_out: Path | None,
    functional: str,
    input_set: str,
    calculator_spec: str | None,
    out_dir: Path | None,
    device: str,
    task_rows: int,
    executor: str | None,
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
      curate label picks --calculator emt --out picks-emt
    Such labels record functional=EMT or model:SPEC, never a DFT functional. Rows are labelled --task-rows at
    a time, in-process or on workers (--workers N, --executor dask, --scheduler ADDRESS): same labels either way.
    """
    from curate.dataset.configuration import batch_to_configurations
    from curate.dataset.store import Dataset

    if (vasp_out is None) == (calculator_spec is None):
        raise ConfigurationError("give exactly one of --vasp-inputs OUT or --calculator SPEC")
    dataset = Dataset.open(dataset_dir)
    rows = []
    for batch in dataset.iter_batches():
        rows += list(zip(batch.column("id").to_pylist(), batch_to_configurations(batch), strict=True))
    if vasp_out is not None:
        from curate.labelling.vasp_inputs import write_vasp_inputs

        report = write_vasp_inputs(rows, vasp_out, functional=functional, input_set=input_set)  # type: ignore[arg-type]
        click.echo(f"{len(report.folders)} VASP input folder(s) written to {vasp_out} ({input_set} {functional})")
        if not report.potcar_written:
            click.echo(
                "no POTCAR library configured (pymatgen setting PMG_VASP_PSP_DIR): wrote POTCAR.spec with the "
                "POTCAR symbols instead of POTCAR; set PMG_VASP_PSP_DIR and re-run to get POTCARs",
                err=True,
            )
        return
    if out_dir is None:
        raise ConfigurationError("--calculator needs --out DIR for the labelled dataset")
    from curate.execution import open_executor
    from curate.labelling.calculator import label_with_calculator
    from curate.sources.ingest import FileReport, write_items

    target = Dataset.create(out_dir)
    report = FileReport(path=str(dataset_dir))
    with (
        open_executor(executor, scheduler=scheduler, workers=workers) as engine,  # type: ignore[arg-type]
        target.writer() as writer,
    ):
        write_items(
            label_with_calculator(rows, calculator_spec or "", device=device, executor=engine, rows_per_task=task_rows),
            writer=writer,
            display_name=str(dataset_dir),
            file_report=report,
        )
        writer.flush()
        target.record_history(
            {
                "command": "label",
                "calculator": calculator_spec,
                "task_rows": task_rows,
                **({"execution": engine.describe()} if engine is not None else {}),
                "source": str(dataset_dir),
                "rows_added": report.rows_added,
                "quarantined": report.quarantined,
            }
        )
    click.echo(
        f"{report.rows_added} row(s) labelled by {calculator_spec} into {out_dir}"
        f" ({report.duplicates} already there, {report.quarantined} quarantined)"
    )
