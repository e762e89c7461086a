"""``curate check``: the quality gate over a whole dataset (what every importer applies per record)."""

from __future__ import annotations

from pathlib import Path

import click

from curate.checks.quality import MIN_DISTANCE_FACTOR
from curate.cli.options import min_distance_option, strict_option


@click.command("check")
@click.argument("dataset_dir", metavar="DIR", type=click.Path(path_type=Path))
@strict_option("Exit with status 1 when any error-level finding exists.")
@min_distance_option(default=MIN_DISTANCE_FACTOR, gate="Flag")
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

    \b
    Example:
      curate check si64 --strict
    """
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
