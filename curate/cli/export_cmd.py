"""``curate export``: a dataset into the file a trainer reads (extxyz for MACE, MPtrj JSON for CHGNet, ASE db)."""

from __future__ import annotations

from pathlib import Path

import click

from curate.exporters import EXPORT_FORMATS


@click.command("export")
@click.argument("dataset_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "--format", "-f", "format_name", required=True, type=click.Choice(EXPORT_FORMATS), help="Output format (see above)."
)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Output file; replaced if it exists, and only once the new one is complete.",
)
@click.option(
    "--where",
    "where_terms",
    multiple=True,
    metavar="COLUMN=VALUE",
    help="Keep only rows whose string or integer COLUMN equals VALUE; repeat to require several "
    "(e.g. --where functional=PBE --where split=train).",
)
def command(dataset_dir: Path, format_name: str, out: Path, where_terms: tuple[str, ...]) -> None:
    """Write the rows of the dataset DIR to one file in --format, streaming (memory bounded by one batch).

    \b
    Formats, and who reads them:
      extxyz      MACE, NequIP, anything reading extxyz via ASE. Labels under REF_ keys so ASE never
                  turns them into a calculator: REF_energy (eV), REF_forces (eV/A), REF_stress (eV/A^3,
                  ASE sign, 9 components row-major), REF_magmoms (Bohr magneton); metadata as key=value.
                  Train: mace_run_train --train_file FILE --energy_key REF_energy
                         --forces_key REF_forces --stress_key REF_stress ...
      mptrj-json  CHGNet (chgnet.data.dataset.StructureJsonData): {material_id: {frame_id: {structure,
                  uncorrected_total_energy, corrected_total_energy, energy_per_atom (eV/atom), force,
                  stress (kBar, VASP sign: -10 x GPa), magmom}}}. Rows without energy or forces are
                  skipped and counted; functional and most metadata cannot be carried.
      ase-db      ASE SQLite database: SinglePointCalculator energy (eV), forces (eV/A), stress (eV/A^3,
                  Voigt, ASE sign), magmoms; metadata as key-value pairs (ase db FILE functional=PBE).

    Floats are written at full precision, so `curate import ase` (extxyz, ase-db) or `curate import
    mptrj` reads the same numbers back and rows keep their ids. A one-line summary goes to stdout,
    progress to stderr.

    \b
    Examples:
      curate export as2so6 --format extxyz --out as2so6.xyz
      curate export as2so6 --format mptrj-json --out as2so6_mptrj.json --where functional=PBE
      curate export as2so6 --format ase-db --out as2so6.db
    """
    from tqdm import tqdm

    from curate.dataset.store import Dataset
    from curate.exporters import export_dataset, parse_where

    where = parse_where(where_terms)
    total = Dataset.open(dataset_dir).num_rows
    with tqdm(total=total, unit=" rows", desc=f"export {format_name}", disable=None) as bar:  # tqdm: stderr
        report = export_dataset(dataset_dir, format_name=format_name, out=out, where=where, on_progress=bar.update)
    for reason, count in report.skipped.items():
        click.echo(f"curate: skipped {count} rows: {reason}", err=True)
    if report.rows_written == 0:
        click.echo(f"curate: warning: no rows written (of {report.rows_scanned} scanned)", err=True)
    click.echo(
        f"{report.rows_written} rows written to {report.path} ({format_name}) from {report.rows_scanned} rows of "
        f"{dataset_dir}, {report.rows_skipped} skipped, in {report.seconds:.1f} s"
    )
