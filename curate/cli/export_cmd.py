"""``curate export``: a dataset into the file a trainer reads (extxyz for MACE, MPtrj JSON for CHGNet, ASE dbs)."""

from __future__ import annotations

from pathlib import Path

import click

from curate.cli.options import out_option
from curate.exporters import ENERGY_CHOICES, EXPORT_FORMATS
from curate.exporters.energy import EnergyChoice


@click.command("export")
@click.argument("dataset_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "--format", "-f", "format_name", required=True, type=click.Choice(EXPORT_FORMATS), help="Output format (see above)."
)
@out_option("Output file; replaced if it exists, and only once the new one is complete.", dir_okay=False)
@click.option(
    "--where",
    "where_terms",
    multiple=True,
    metavar="COLUMN=VALUE",
    help="Keep only rows whose COLUMN equals VALUE, parsed as the column's type: strings, integers, "
    "booleans (true/false) and floats (exact match). Repeat a column to accept any of its values, "
    "different columns must all match (e.g. --where functional=PBE --where functional=PBE+U "
    "--where scf_converged=true).",
)
@click.option(
    "--energy",
    type=click.Choice(ENERGY_CHOICES),
    default=None,
    help="mptrj-json only: the energy CHGNet trains on (energy_per_atom). auto (default): MP2020-corrected "
    "when every row has a stored correction or is a Materials Project PBE/PBE+U task, raw when none is, "
    "refused when only some are. corrected: stored, else MP2020 computed with pymatgen for any PBE/PBE+U "
    "row (you vouch for MP settings); other rows skipped. uncorrected: raw DFT energies.",
)
def command(
    dataset_dir: Path, format_name: str, out: Path, where_terms: tuple[str, ...], energy: EnergyChoice | None
) -> None:
    """Write the rows of the dataset DIR to one file in --format, streaming (memory: one batch, plus a few
    strings per row for mptrj-json's material keys).

    \b
    Formats, and who reads them:
      extxyz      MACE, NequIP, anything reading extxyz via ASE. Labels under REF_ keys so ASE never
                  turns them into a calculator: REF_energy (eV, raw DFT), REF_forces (eV/A), REF_stress
                  (eV/A^3, ASE sign, 9 components row-major), REF_magmoms (Bohr magneton); metadata as
                  key=value, with curate_id (the row id) and split.
                  Train: mace_run_train --train_file FILE --energy_key REF_energy
                         --forces_key REF_forces --stress_key REF_stress ...  (MACE's defaults)
                  matgl: MGLDatasetLoader.from_extxyz(FILE, energy_key="REF_energy",
                         forces_key="REF_forces", stress_key="REF_stress")
      mptrj-json  CHGNet (chgnet.data.dataset.StructureJsonData): {material: {frame_id: {structure,
                  uncorrected_total_energy, corrected_total_energy, energy_per_atom (eV/atom, see
                  --energy), force, stress (kBar, VASP sign: -10 x GPa), magmom}}}. Frames are keyed by
                  material (material_id, else reduced formula), the grouping `curate publish` splits by,
                  so CHGNet's split by key never puts one material in two splits. Rows without energy or
                  forces are skipped and counted; functional and most metadata cannot be carried.
      ase-db      ASE SQLite database: SinglePointCalculator energy (eV, raw DFT), forces (eV/A), stress
                  (eV/A^3, Voigt, ASE sign), magmoms; metadata as key-value pairs with curate_id and
                  split (ase db FILE functional=PBE).
      aselmdb     fairchem's ASE LMDB (.aselmdb, as OMat24; ase-db-backends): the ase-db layout, plus
                  data.sid = the row id. FILE must end in .aselmdb.

    One file holds one energy scale: rows mixing functionals (PBE with PBE+U excepted, Materials
    Project's GGA/GGA+U scheme as in MPtrj) or Hubbard U values of one element are refused before
    anything is written; export one functional per file with --where functional=NAME. The energies
    written are counted per kind on stderr (corrected stored / MP2020 computed / raw).

    Floats are written at full precision, so `curate import ase` (extxyz, ase-db) or `curate import
    mptrj` reads the same numbers back and rows keep their ids. A one-line summary goes to stdout,
    progress and counts to stderr.

    \b
    Examples:
      curate export as2so6 --format extxyz --out as2so6.xyz
      curate export as2so6 --format mptrj-json --out as2so6_mptrj.json --where functional=PBE
      curate export mixed --format extxyz --out r2scan.xyz --where functional=r2SCAN
      curate export as2so6 --format mptrj-json --out raw.json --energy uncorrected
      curate export as2so6 --format aselmdb --out as2so6.aselmdb
    """
    from tqdm import tqdm

    from curate.dataset.store import Dataset
    from curate.exporters import export_dataset, parse_where

    where = parse_where(where_terms)
    total = Dataset.open(dataset_dir).num_rows
    with tqdm(total=total, unit=" rows", desc=f"export {format_name}", disable=None) as bar:  # tqdm: stderr
        report = export_dataset(
            dataset_dir,
            format_name=format_name,
            out=out,
            where=where,
            energy=energy,
            on_progress=bar.update,
        )
    for reason, count in report.skipped.items():
        click.echo(f"curate: skipped {count} rows: {reason}", err=True)
    for kind, count in report.energies.items():
        click.echo(f"curate: energy ({report.energy}): {count} rows {kind}", err=True)
    if report.rows_written == 0:
        click.echo(f"curate: warning: no rows written (of {report.rows_scanned} scanned)", err=True)
    click.echo(
        f"{report.rows_written} rows written to {report.path} ({format_name}) from {report.rows_scanned} rows of "
        f"{dataset_dir}, {report.rows_skipped} skipped, in {report.seconds:.1f} s"
    )
