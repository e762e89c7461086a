"""``curate pull hf (issue 7)``: placeholder until that issue lands."""

from __future__ import annotations

import click

from curate.errors import ConfigurationError


@click.command("hf", hidden=True)
def command() -> None:
    """Not available yet."""
    raise ConfigurationError("'curate pull hf (issue 7)' is not available in this release")
