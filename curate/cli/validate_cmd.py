"""``curate validate``: the old name of two commands; it answers with a pointer to the new one (exit status 2)."""

from __future__ import annotations

import sys

import click

EXPERIMENT_FLAGS = ("--pool", "--correction", "--benchmark")


@click.command(
    "validate",
    hidden=True,
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args: tuple[str, ...]) -> None:
    """Renamed: `curate check DIR` (the quality gate), `curate correction-gain --pool ...` (the experiment)."""
    if any(arg.partition("=")[0] in EXPERIMENT_FLAGS for arg in args):
        line = "`curate validate --pool ...` is now `curate correction-gain --pool ...` (the gate: `curate check`)"
    else:
        line = "`curate validate DIR` is now `curate check DIR` (the correction experiment is `curate correction-gain`)"
    click.echo(f"curate: error: {line}", err=True)
    sys.exit(2)
