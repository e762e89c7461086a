"""``curate label``: placeholder until issue 5 lands."""

from __future__ import annotations

import click

from curate.errors import ConfigurationError


@click.command("label", hidden=True)
def command() -> None:
    """Not available yet."""
    raise ConfigurationError("'curate label' is not available in this release")
