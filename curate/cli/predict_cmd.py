"""``curate predict (issue 4)``: placeholder until that issue lands."""

from __future__ import annotations

import click

from curate.errors import ConfigurationError


@click.command("predict", hidden=True)
def command() -> None:
    """Not available yet."""
    raise ConfigurationError("'curate predict (issue 4)' is not available in this release")
