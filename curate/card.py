"""The dataset card (README.md): YAML front matter that ``datasets.load_dataset(DIR)`` reads, plus a summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from curate.schema import row_schema

if TYPE_CHECKING:
    from curate.store import Dataset


def front_matter(dataset: Dataset) -> dict:
    """YAML header: one ``default`` config over ``data/*.parquet`` and the schema's features."""
    return {
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
        "tags": ["materials", "interatomic-potentials", "curate"],
    }


def render_card(dataset: Dataset) -> str:
    """The card text: front matter, counts, content hash, units and sources."""
    manifest = dataset.manifest
    schema = row_schema()
    lines = [
        "---",
        yaml.safe_dump(front_matter(dataset), sort_keys=False).rstrip(),
        "---",
        f"# {dataset.path.name}",
        "",
        f"A curate dataset: {manifest['num_rows']} atomic configurations in {len(manifest['shards'])} "
        f"Parquet shard(s) under `data/`; schema `{schema.name}` {schema.version}.",
        "",
        f"Content hash: `{manifest['content_hash']}`",
        "",
        'Load with `datasets.load_dataset("<this folder>", split="train")` or `pyarrow.parquet.read_table("data")`.',
        "",
        "## Columns and units",
        "",
        "| column | unit | description |",
        "|---|---|---|",
    ]
    for spec in schema.fields:
        lines.append(f"| `{spec.name}` | {spec.unit or ''} | {spec.description} |")
    lines += ["", "Stress: " + schema.conventions["stress"], "", "## Sources", ""]
    if manifest["sources"]:
        lines += ["| file | format | rows added | quarantined |", "|---|---|---|---|"]
        for source in manifest["sources"]:
            lines.append(
                f"| `{source.get('file')}` | {source.get('format')} | {source.get('rows_added', '')} "
                f"| {source.get('quarantined', '')} |"
            )
    else:
        lines.append("none recorded")
    return "\n".join(lines) + "\n"


def write_card(dataset: Dataset) -> None:
    """Write README.md atomically."""
    from curate.store import CARD_NAME, _atomic_write_text

    _atomic_write_text(dataset.path / CARD_NAME, render_card(dataset))
