"""``curate pull``: bring data from a remote service into a dataset (one subcommand per service)."""

from __future__ import annotations

import click

from curate.cli.pull_hf import command as pull_hf_command
from curate.cli.pull_mp import command as pull_mp_command


@click.group("pull")
def command() -> None:
    """Pull data from the Materials Project (``mp``) or the Hugging Face Hub (``hf``) into a dataset."""


command.add_command(pull_mp_command)
command.add_command(pull_hf_command)
