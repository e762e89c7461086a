"""``curate generate``: placeholder until issue 5 lands."""

from __future__ import annotations

import click

from curate.errors import ConfigurationError


@click.command("generate", hidden=True)
def command() -> None:
    """Not available yet."""
    raise ConfigurationError("'curate generate' is not available in this release")
