"""The dataset card (README.md) and the card sections every curate card shares.

A dataset folder's card has YAML front matter that ``datasets.load_dataset(DIR)`` reads plus a summary; the
Hub release card (:mod:`curate.publish.card`) is built from the same column and source tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from curate.dataset.io import atomic_write_text
from curate.dataset.schema import row_schema

CARD_NAME = "README.md"


def markdown_table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table as lines; ``|`` inside cells is escaped."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def columns_section() -> list[str]:
    """``## Columns and units``: every schema column with its unit and description, and the conventions."""
    schema = row_schema()
    rows = [[f"`{s.name}`", s.unit or "", s.description] for s in schema.fields]
    return [
        "## Columns and units",
        "",
        f"Schema `{schema.name}` {schema.version}; floats are float64. One row per structure, per-atom values in "
        "list columns in site order.",
        "",
        *markdown_table(["column", "unit", "description"], rows),
        "",
        f"Stress: {schema.conventions['stress']}",
        "",
        f"Energy: {schema.conventions['energy']}",
        "",
    ]


def sources_table(sources: Sequence[dict[str, Any]]) -> list[str]:
    """The manifest's source files: name, format, rows added, rows quarantined, sha256 (first 16 hex)."""
    rows = [
        [
            f"`{Path(str(s.get('file'))).name}`",
            s.get("format", ""),
            s.get("rows_added", ""),
            s.get("quarantined", ""),
            f"`{str(s.get('sha256', ''))[:16]}`",
        ]
        for s in sources
    ]
    return markdown_table(["file", "format", "rows added", "quarantined", "sha256 (first 16)"], rows)


def front_matter() -> dict[str, Any]:
    """YAML header: one ``default`` config over ``data/*.parquet``."""
    return {
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
        "tags": ["materials", "interatomic-potentials", "curate"],
    }


def render_card(name: str, manifest: dict[str, Any]) -> str:
    """The card text of the dataset folder ``name`` with ``manifest``: front matter, counts, hash, columns, sources."""
    schema = row_schema()
    lines = [
        "---",
        yaml.safe_dump(front_matter(), sort_keys=False).rstrip(),
        "---",
        f"# {name}",
        "",
        f"A curate dataset: {manifest['num_rows']} atomic configurations in {len(manifest['shards'])} "
        f"Parquet shard(s) under `data/`; schema `{schema.name}` {schema.version}.",
        "",
        f"Content hash: `{manifest['content_hash']}`",
        "",
        'Load with `datasets.load_dataset("<this folder>", split="train")` or `pyarrow.parquet.read_table("data")`.',
        "",
        *columns_section(),
        "## Sources",
        "",
    ]
    lines += sources_table(manifest["sources"]) if manifest["sources"] else ["none recorded"]
    return "\n".join(lines) + "\n"


def write_card(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``folder/README.md`` atomically."""
    atomic_write_text(Path(folder) / CARD_NAME, render_card(Path(folder).name, manifest))
