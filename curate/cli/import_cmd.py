"""``curate import``: real DFT files into a dataset."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from curate.checks.quality import MIN_DISTANCE_FACTOR
from curate.cli.echo import dataset_state, quarantine_note
from curate.cli.options import execution_options, functional_option, min_distance_option, out_option, strict_option
from curate.execution import ExecutorKind
from curate.sources import IMPORT_FORMATS


@click.command("import")
@click.argument("format_name", metavar="FORMAT", type=click.Choice(IMPORT_FORMATS))
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@out_option("Dataset directory (created or appended to).", file_okay=False)
@functional_option(
    "Functional for formats whose files do not record it (extxyz, .aselmdb, ...), as the functional column "
    "names it (PBE, PBE+U, r2SCAN, ...; any case). For mptrj it replaces the Materials Project GGA/GGA+U rule; "
    "for mlearn it replaces PBE, the functional of the mlearn benchmark (for other data in that layout).",
    default=None,
)
@min_distance_option(default=MIN_DISTANCE_FACTOR)
@click.option(
    "--shard-rows", default=100_000, show_default=True, type=click.IntRange(min=1), help="Rows per Parquet shard."
)
@execution_options(
    workers_help="Worker processes for chunked formats (mptrj); default: in-process for files under 32 MB, else "
    "all usable cores (at most 8)."
)
@strict_option("Exit with status 1 if any record was quarantined.")
def command(
    format_name: str,
    paths: tuple[Path, ...],
    out: Path,
    functional: str | None,
    min_distance_factor: float,
    shard_rows: int,
    executor: ExecutorKind | None,
    scheduler: str | None,
    workers: int | None,
    strict: bool,
) -> None:
    """Import FORMAT files into the dataset at --out, streaming, with a quality gate.

    \b
    FORMAT is one of:
      mp-tasks  Materials Project task documents (list or dict, .json or .json.gz): every ionic step
      mptrj     CHGNet's MPtrj JSON {mp_id: {frame_id: {structure, energies, force, stress, magmom}}}
      matpes    MatPES documents (list, or dict keyed by anything)
      mlearn    mlearn/maml JSON list {structure, outputs: {energy, forces, virial_stress}, group,
                description, tag}; virial_stress is kBar, VASP sign, order xx yy zz xy yz zx;
                recorded as PBE (mlearn's own settings, not the Materials Project's) unless --functional
      vasp      vasprun.xml / OUTCAR files or calculation directories (every ionic step)
      ase       extxyz and anything ase.io reads with energy/forces/stress, ASE databases (.db, .json) and
                ASE-LMDB (.aselmdb, fairchem's OMat24/OMol25 layout; stress eV/A^3 converted to GPa).
                Rows that name no functional need --functional, which labels every row alike
                (OMat24 mixes PBE and PBE+U by composition; one --functional cannot tell them apart)

    Units stored: eV, eV/A, GPa (ASE sign: positive = tensile). The functional is read from each
    calculation's inputs (INCAR/vasprun parameters) or documents where they record it, taken from the
    data set's publication where they do not (mlearn: PBE), else from --functional; never guessed.
    Re-running the same import adds nothing (rows are keyed by a content hash), so an interrupted import
    resumes. Records that fail the
    quality gate go to DIR/quarantine.jsonl with file, record, field and reason; good records still land.

    mptrj files are parsed in 4 MiB chunks by worker processes, or on a Dask cluster with --executor dask
    (--scheduler ADDRESS for a running one); only this process writes, so the dataset is the same whatever
    ran the chunks, and a chunk lost with its worker is parsed again.

    \b
    Examples:
      curate import mp-tasks ../shared/data/emmet/test_As2SO6_tasks.json.gz --out as2so6
      curate import mlearn ../shared/data/mlearn/Ge_training.json --out ge-mlearn
      curate import ase relaxations.aselmdb --functional r2SCAN --out relaxations
    """
    from tqdm import tqdm

    from curate.execution import open_executor
    from curate.sources import ImportOptions, get_importer
    from curate.sources.base import ChunkedImporter
    from curate.sources.ingest import import_paths
    from curate.sources.parallel import IMPORT_PRELOAD

    if (executor or scheduler) and not isinstance(get_importer(format_name), ChunkedImporter):
        click.echo(
            f"curate: note: {format_name} files are read in this process; only mptrj is cut into tasks", err=True
        )
    with (
        open_executor(executor, scheduler=scheduler, workers=workers, preload=IMPORT_PRELOAD) as engine,
        tqdm(unit=" rows", desc=f"import {format_name}", disable=None, file=sys.stderr) as bar,
    ):
        report = import_paths(
            list(paths),
            format_name=format_name,
            out=out,
            options=ImportOptions(functional=functional),
            min_distance_factor=min_distance_factor,
            shard_rows=shard_rows,
            workers=workers,
            executor=engine,
            on_progress=bar.update,
            on_error=lambda message: click.echo(f"curate: error: {message}", err=True),
        )
    click.echo(
        f"{report.rows_added} rows added, {report.duplicates} already present, {report.quarantined} quarantined "
        f"in {report.seconds:.1f} s; {dataset_state(out)}"
    )
    quarantine_note(out, report.quarantined)
    if report.failed_files or (strict and report.quarantined):
        raise SystemExit(1)
