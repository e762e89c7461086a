"""``curate validate``: the quality gate over a dataset."""

from __future__ import annotations

from pathlib import Path

import click

from curate.quality import MIN_DISTANCE_FACTOR


@click.command("validate")
@click.argument("dataset_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Exit with status 1 when any error-level finding exists.")
@click.option(
    "--min-distance-factor",
    default=MIN_DISTANCE_FACTOR,
    show_default=True,
    type=float,
    help="Atoms closer than this x the sum of covalent radii are an error.",
)
def command(dataset_dir: Path, strict: bool, min_distance_factor: float) -> None:
    """Check every row of the dataset DIR and print what is wrong, where.

    \b
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
    """
    from curate.store import Dataset
    from curate.validation import validate_dataset

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
