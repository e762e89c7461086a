"""``curate predict``: energies, forces and stresses of every row by one or more uMLIPs, as a companion dataset."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from curate.cli.options import (
    batch_rows_option,
    device_option,
    execution_options,
    max_atoms_option,
    model_option,
    out_option,
    overwrite_option,
)
from curate.execution import ExecutorKind, open_executor


@click.command("predict")
@click.argument("dataset", type=click.Path(path_type=Path))
@model_option(multiple=True)
@device_option
@max_atoms_option
@out_option("Predictions directory to write.")
@batch_rows_option(default=256)
@overwrite_option("Replace predictions already in --out.")
@execution_options(
    workers_help="Worker processes, each with one torch thread and its own copy of the models (default: one per "
    "core for CHGNet jobs on the CPU of >= 15,000 atoms x models, else in-process; 1: in-process)."
)
def command(
    dataset: Path,
    models: tuple[str, ...],
    device: str,
    max_atoms_per_batch: int | None,
    out: Path,
    batch_rows: int,
    overwrite: bool,
    executor: ExecutorKind | None,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Predict energy (eV), forces (eV/A) and stress (GPa, ASE sign) of every row of DATASET with each --model.

    \b
    The result is a companion dataset in --out: Parquet shards with one row per (id, model), in the
    dataset's order, and a manifest naming each model's version, functional, library and weights sha256.
    Rows stream in batches; each forward pass holds at most --max-atoms-per-batch atoms; models that
    share neighbour graphs (CHGNet 0.3.0 and r2scan) build them once. A large CHGNet job on the CPU runs
    on one single-threaded worker process per core; the numbers do not depend on where it ran.

    \b
    Example (the CHGNet committee):
      curate predict mydata -m chgnet@0.3.0 -m chgnet@0.2.0 -m chgnet@r2scan --out mydata-pred
    """
    from tqdm import tqdm

    from curate.dataset.store import Dataset
    from curate.models import load_model, max_atoms_for
    from curate.models.run import predict_dataset, start_predict_pool

    loaded = [load_model(spec, device=device) for spec in models]
    max_atoms = max_atoms_per_batch or max_atoms_for(loaded)
    total = Dataset.open(dataset).num_rows
    runners: contextlib.AbstractContextManager[Any]
    if executor in (None, "local") and scheduler is None and workers is not None and workers > 1:
        # the predict pool's fork server imports torch and chgnet once for all workers
        runners = contextlib.closing(start_predict_pool(loaded, workers=workers))
    else:
        runners = open_executor(executor, scheduler=scheduler, workers=workers)
    with (
        tqdm(total=total, unit=" rows", desc="predict", disable=None, file=sys.stderr) as bar,
        runners as runner,
    ):
        report = predict_dataset(
            dataset,
            loaded,
            out,
            max_atoms_per_batch=max_atoms,
            batch_rows=batch_rows,
            overwrite=overwrite,
            command=" ".join(["curate", *sys.argv[1:]]) if sys.argv else "curate predict",
            on_progress=bar.update,
            executor=runner,
        )
    if report.up_to_date:
        click.echo(f"{out} already holds predictions of {', '.join(report.models)} for all {report.structures} rows")
        return
    click.echo(
        f"{report.structures} rows x {len(report.models)} model(s) ({', '.join(report.models)}) in "
        f"{report.seconds:.1f} s ({report.structures_per_second:.2f} structures/s, {loaded[0].device}, "
        f"<= {max_atoms} atoms per pass) -> {out}"
    )
