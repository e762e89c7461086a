"""``curate demo``: the offline quick-start job."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--out",
    "-o",
    default=Path("curate-demo"),
    show_default=True,
    type=click.Path(path_type=Path),
    help="Dataset directory to write.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the rattles (recorded per row).")
@click.pass_context
def command(ctx: click.Context, out: Path, seed: int) -> None:
    """Build a small labelled dataset offline, validate it and print its summary.

    Five fcc metals from ASE's builders, near-equilibrium and perturbed (seeded Gaussian rattles,
    +-3 % strains), labelled with ASE's EMT potential (no DFT, no download), plus one cell with two
    atoms 0.3 A apart that the quality gate must quarantine. Then runs `curate validate` and
    `curate info` on the result.
    """
    from curate.cli.info_cmd import command as info_command
    from curate.cli.validate_cmd import command as validate_command
    from curate.sources.demo import build_demo

    report = build_demo(out, seed=seed)
    click.echo(
        f"demo: {report.rows_added} new structures in {out} ({report.duplicates} already there), "
        f"{report.quarantined} quarantined "
        f"(see {out / 'quarantine.jsonl'})"
    )
    ctx.invoke(validate_command, dataset_dir=out)
    ctx.invoke(info_command, dataset_dir=out, plot_path=out / "summary.png")
