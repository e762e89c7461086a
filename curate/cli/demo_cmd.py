"""``curate demo``: the offline quick-start job."""

from __future__ import annotations

from pathlib import Path

import click

from curate.cli.options import out_option, seed_option


@click.command("demo")
@out_option("Dataset directory to write.", default=Path("curate-demo"), file_okay=False)
@seed_option("Seed of the rattles (recorded per row).")
@click.pass_context
def command(ctx: click.Context, out: Path, seed: int) -> None:
    """Build a small labelled dataset offline, check it and print its summary.

    Five fcc metals from ASE's builders, near-equilibrium and perturbed (seeded Gaussian rattles,
    +-3 % strains), labelled with ASE's EMT potential (no DFT, no download), plus one cell with two
    atoms 0.3 A apart that the quality gate must quarantine. Then runs `curate check` and
    `curate info` on the result.
    """
    from curate.cli.check_cmd import command as check_command
    from curate.cli.info_cmd import command as info_command
    from curate.sources.demo import build_demo

    report = build_demo(out, seed=seed)
    click.echo(
        f"demo: {report.rows_added} new structures in {out} ({report.duplicates} already there), "
        f"{report.quarantined} quarantined "
        f"(see {out / 'quarantine.jsonl'})"
    )
    ctx.invoke(check_command, dataset_dir=out)
    ctx.invoke(info_command, dataset_dir=out, plot_path=out / "summary.png")
