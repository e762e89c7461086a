"""``curate pair-report``: GGA(+U) vs r2SCAN energies of paired materials, and AtomRef fits per functional."""

from __future__ import annotations

from pathlib import Path

import click

from curate.cli.options import plot_option


@click.command("pair-report")
@click.argument("dataset_dir", metavar="DIR", type=click.Path(path_type=Path))
@plot_option("Scatter PNG of relaxed r2SCAN vs GGA(+U) energy per atom (default: DIR/pair-report.png).")
@click.option("--no-store", is_flag=True, help="Do not write the AtomRef fits into the manifest.")
def command(dataset_dir: Path, plot_path: Path | None, no_store: bool) -> None:
    """Compare GGA(+U) and r2SCAN energies of the materials in DIR computed with both, and fit AtomRef.

    \b
    Pairs are rows sharing pair_id (material_id when unset), e.g. from `curate pull mp --functional both`.
    Per material, the relaxed energy per functional family is the lowest energy per atom among its rows.
    Prints: the number of pairs, the Pearson correlation, the mean r2SCAN - GGA shift and the mean shift per
    element (eV/atom); writes the scatter PNG (with y = x). Fits elemental reference energies per functional
    (AtomRef: least squares of E/N on fractional composition, eV/atom) and stores them in the manifest
    under "reference_energies" for transfer-learning runs.

    \b
    Example:
      curate pair-report lifeo --plot lifeo-pairs.png
    """
    from curate.dataset.store import Dataset
    from curate.diagnostics.pairing import pair_report, plot_pairs
    from curate.errors import DatasetError

    dataset = Dataset.open(dataset_dir)
    report = pair_report(dataset)
    if not report.atomref:
        raise DatasetError(f"{dataset_dir}: no rows with an energy and a functional")
    click.echo(f"pairs\t{len(report.pairs)}")
    click.echo(f"unpaired_gga\t{report.unpaired.get('GGA', 0)}")
    click.echo(f"unpaired_r2scan\t{report.unpaired.get('r2SCAN', 0)}")
    if report.pairs:
        r = report.pearson_r
        click.echo(f"pearson_r\t{'' if r is None else f'{r:.6f}'}")
        click.echo(f"mean_shift_ev_per_atom\t{report.mean_shift_ev_per_atom:.6f}")
        click.echo("element\tmean_shift_ev_per_atom\tpairs")
        for element, (shift, count) in report.element_shifts().items():
            click.echo(f"{element}\t{shift:.6f}\t{count}")
    click.echo("functional\tatomref_rows\tatomref_elements\tatomref_rank\tatomref_rmse_ev_per_atom")
    for name, ref in sorted(report.atomref.items()):
        click.echo(f"{name}\t{ref.num_rows}\t{len(ref.energies_ev_per_atom)}\t{ref.rank}\t{ref.rmse_ev_per_atom:.6f}")
    if len(report.pairs) >= 2:
        written = plot_pairs(report, plot_path or dataset_dir / "pair-report.png")
        click.echo(f"plot written: {written}", err=True)
    else:
        click.echo("fewer than 2 GGA/r2SCAN pairs: no correlation or plot", err=True)
    if not no_store:
        with dataset.writer():
            dataset.set_manifest_section("reference_energies", report.as_manifest())
