"""What several commands print the same way: a dataset's state after writing, and where rejected records went."""

from __future__ import annotations

from pathlib import Path

import click


def dataset_state(out: Path) -> str:
    """``OUT now holds N rows (content hash ...)``: the dataset at ``out`` as it is now."""
    from curate.dataset.store import Dataset

    dataset = Dataset.open(out)
    return f"{out} now holds {dataset.num_rows} rows (content hash {dataset.content_hash[:16]})"


def quarantine_note(out: Path, count: int, what: str = "quarantined records") -> None:
    """Tell stderr where the ``count`` rejected records of the dataset at ``out`` and their reasons are (if any)."""
    if count:
        click.echo(f"{what} and reasons: {out / 'quarantine.jsonl'}", err=True)
