"""``curate coverage``: how well a reference dataset covers a target's atomic environments, and label bias."""

from __future__ import annotations

from pathlib import Path

import click

from curate.cli.options import (
    NON_NEGATIVE,
    POSITIVE,
    CommaList,
    attach_option,
    batch_rows_option,
    execution_options,
    out_option,
    seed_option,
)
from curate.descriptors.soap import COMPRESSION_MODES, CompressionMode
from curate.diagnostics.coverage import DEFAULT_RADII
from curate.execution import ExecutorKind


@click.command("coverage")
@click.argument("reference", type=click.Path(path_type=Path))
@click.option(
    "--target", "-t", required=True, type=click.Path(path_type=Path), help="Dataset whose environments are checked."
)
@out_option("Folder for coverage.json/.md and the PNGs.", file_okay=False)
@attach_option("TARGET")
@click.option(
    "--radius",
    default=0.05,
    show_default=True,
    type=NON_NEGATIVE,
    help="Coverage radius (SOAP distance) reported per element and source.",
)
@click.option(
    "--radii",
    default=DEFAULT_RADII,
    type=CommaList(NON_NEGATIVE, sort=True),
    help="Radii of the coverage curve  [default: 0 ... 1]",
)
@click.option("--r-cut", default=5.0, show_default=True, type=POSITIVE, help="SOAP cutoff radius, angstrom.")
@click.option("--n-max", default=4, show_default=True, type=click.IntRange(min=1), help="SOAP radial basis size.")
@click.option("--l-max", default=3, show_default=True, type=click.IntRange(min=0), help="SOAP maximum angular degree.")
@click.option("--sigma", default=0.5, show_default=True, type=POSITIVE, help="SOAP Gaussian width, angstrom.")
@click.option(
    "--compression",
    default="auto",
    show_default=True,
    type=click.Choice(COMPRESSION_MODES),
    help="dscribe compression; auto = off up to 2048 features, else mu1nu1 (linear in the element count).",
)
@click.option(
    "--components", default=24, show_default=True, type=click.IntRange(min=1), help="PCA axes fitted on the reference."
)
@click.option(
    "--pca-sample",
    default=50_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Reference environments (about) fitting the PCA.",
)
@click.option(
    "--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="Processes dscribe uses per batch."
)
@batch_rows_option(default=256)
@seed_option("Seed of the PCA and self-distance samples.")
@click.option("--no-labels", is_flag=True, help="Skip the label-space bias (force, energy, strain histograms).")
@execution_options(workers_help="Worker processes computing descriptors (default: in-process, with dscribe's --jobs).")
def command(
    reference: Path,
    target: Path,
    out: Path,
    attach: bool,
    radius: float,
    radii: tuple[float, ...],
    r_cut: float,
    n_max: int,
    l_max: int,
    sigma: float,
    compression: CompressionMode,
    components: int,
    pca_sample: int,
    jobs: int,
    batch_rows: int,
    seed: int,
    no_labels: bool,
    executor: ExecutorKind | None,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Distance of every TARGET atomic environment to the nearest REFERENCE environment, and label bias.

    \b
    Each environment is described by species-aware SOAP (dscribe) over the union of both datasets'
    elements, normalised to unit length, reduced by PCA fitted on REFERENCE (+ the residual norm), and
    compared with the reference environments of the same central element (KD-tree). Coverage = share of
    target environments within --radius (on As2SO6, a Gaussian rattle of 0.1 A moves the median
    environment 0.047 from its original, one of 0.05 A moves it 0.026).
    Label bias: force-norm histograms (eV/A), energy above each material's lowest frame (eV/atom) and
    volumetric strain relative to the relaxed cell, i.e. the cell of the lowest-energy frame (per atom).
    Numbers go to OUT/coverage.json and .md (Markdown also to stdout), overlaid histograms to PNG.

    \b
    Example:
      curate coverage mptrj_ds --target my_md_ds --out reports/ --attach
    """
    from curate.descriptors.soap import SoapParams
    from curate.diagnostics.coverage import CoverageOptions
    from curate.diagnostics.coverage_report import render_markdown
    from curate.diagnostics.coverage_run import measure_coverage, write_coverage_files
    from curate.execution import open_executor

    options = CoverageOptions(
        soap=SoapParams(r_cut_ang=r_cut, n_max=n_max, l_max=l_max, sigma_ang=sigma, compression=compression),
        n_components=components,
        pca_sample_envs=pca_sample,
        radius=radius,
        radii=radii,
        batch_rows=batch_rows,
        n_jobs=jobs,
        seed=seed,
    )
    ctx = click.get_current_context()
    parameters = {k: (str(v) if isinstance(v, Path) else v) for k, v in ctx.params.items()}
    with open_executor(executor, scheduler=scheduler, workers=workers) as runner:
        report = measure_coverage(
            reference,
            target,
            options,
            labels=not no_labels,
            executor=runner,
            command=ctx.command_path,
            parameters=parameters,
            on_message=lambda line: click.echo(line, err=True),
        )
    from curate.dataset.paths import reports_folder

    report_names = ["coverage.json", "coverage.md", "coverage.png", "coverage_labels.png"]
    folders = [out] + ([reports_folder(target, report_names)] if attach else [])
    for folder in folders:
        write_coverage_files(report, folder)
    click.echo(render_markdown(report), nl=False)
    click.echo(f"wrote {', '.join(str(f) for f in folders)}", err=True)
