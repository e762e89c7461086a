"""``curate pull``: bring data from a remote service into a dataset (one subcommand per service)."""

from __future__ import annotations

import click

from curate.cli import pull_hf, pull_mp


@click.group("pull")
def command() -> None:
    """Pull data from the Materials Project (``mp``) or the Hugging Face Hub (``hf``) into a dataset."""


command.add_command(pull_mp.command)
command.add_command(pull_hf.command)
