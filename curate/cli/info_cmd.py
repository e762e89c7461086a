"""``curate info``: what a dataset holds."""

from __future__ import annotations

import json
from pathlib import Path

import click

from curate.cli.options import plot_option


def _table(title: str, counts: dict[str, int], limit: int) -> list[str]:
    lines = [title]
    for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        lines.append(f"  {name:<24} {count:>10}")
    if len(counts) > limit:
        lines.append(f"  ... {len(counts) - limit} more")
    return lines


@click.command("info")
@click.argument("dataset_dir", metavar="DIR", type=click.Path(path_type=Path))
@plot_option("Write energy/force histograms to this PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of tables.")
@click.option(
    "--top", default=15, show_default=True, type=click.IntRange(min=1), help="Rows shown per table (elements are many)."
)
def command(dataset_dir: Path, plot_path: Path | None, as_json: bool, top: int) -> None:
    """Counts by functional, source and element, and label distributions of DIR.

    \b
    Energy per atom in eV/atom; force norms |F| per atom in eV/A (the near-equilibrium bias
    of relaxation data shows as a pile-up of small forces). Example:
      curate info as2so6 --plot as2so6.png
    """
    from curate.checks.summary import plot_summary, summarize
    from curate.dataset.store import Dataset

    dataset = Dataset.open(dataset_dir)
    summary = summarize(dataset)
    energy_q = summary.quantiles(summary.energy_per_atom_ev)
    force_q = summary.quantiles(summary.force_norms_ev_per_ang)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "rows": summary.rows,
                    "atoms": summary.atoms,
                    "content_hash": dataset.content_hash,
                    "by_functional": dict(summary.by_functional),
                    "by_source": dict(summary.by_source),
                    "by_element": dict(summary.by_element),
                    "energy_per_atom_ev": energy_q,
                    "force_norm_ev_per_ang": force_q,
                },
                indent=2,
            )
        )
    else:
        lines = [
            f"{dataset_dir}: {summary.rows} structures, {summary.atoms} atoms, content hash {dataset.content_hash[:16]}"
        ]
        lines += _table("by functional", dict(summary.by_functional), top)
        lines += _table("by source", dict(summary.by_source), top)
        lines += _table("by element (structures containing it)", dict(summary.by_element), top)
        for label, q, unit in (("energy per atom", energy_q, "eV/atom"), ("|F| per atom", force_q, "eV/A")):
            if q:
                lines.append(f"{label} ({unit}): " + "  ".join(f"{k} {v:.4g}" for k, v in q.items()))
        click.echo("\n".join(lines))
    if plot_path is not None:
        plot_summary(summary, plot_path, title=f"{dataset_dir.name}: {summary.rows} structures")
        click.echo(f"plot written to {plot_path}", err=True)
