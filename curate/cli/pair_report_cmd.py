"""``curate pair-report (issue 3)``: placeholder until that issue lands."""

from __future__ import annotations

import click

from curate.errors import ConfigurationError


@click.command("pair-report", hidden=True)
def command() -> None:
    """Not available yet."""
    raise ConfigurationError("'curate pair-report (issue 3)' is not available in this release")
