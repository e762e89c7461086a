"""``curate pull mp``: Materials Project GGA/GGA+U and r2SCAN frames into a dataset, paired by material."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from curate.checks.quality import MIN_DISTANCE_FACTOR
from curate.materials_project.frames import DEFAULT_ENERGY_THRESHOLD_EV_PER_ATOM, DEFAULT_FORCE_THRESHOLD_EV_PER_ANG
from curate.materials_project.selection import FUNCTIONAL_CHOICES, WHAT_CHOICES
from curate.materials_project.trajectories import MP_TRAJECTORIES_URI

if TYPE_CHECKING:
    from curate.materials_project.pull import PullOptions, PullQuery


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


@click.command("mp")
@click.option(
    "--out", "-o", required=True, type=click.Path(path_type=Path), help="Dataset directory (created or resumed)."
)
@click.option("--chemsys", multiple=True, help="Chemical systems, e.g. Li-Fe-O (repeat or comma-separate).")
@click.option("--elements", multiple=True, help="Materials containing all these elements, e.g. Li,O.")
@click.option("--material-ids", multiple=True, help="Material ids, e.g. mp-149,mp-13.")
@click.option(
    "--functional",
    type=click.Choice(FUNCTIONAL_CHOICES),
    default="both",
    show_default=True,
    help="gga = GGA and GGA+U (which one is in each row's functional column); r2scan; or both.",
)
@click.option(
    "--what",
    type=click.Choice(WHAT_CHOICES),
    default="both",
    show_default=True,
    help="Ionic steps of structure optimizations, statics, or both.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many materials (by material id).")
@click.option(
    "--energy-threshold",
    type=click.FloatRange(min=0),
    default=DEFAULT_ENERGY_THRESHOLD_EV_PER_ATOM,
    show_default=True,
    help="Keep a relaxation frame if its energy differs from the last kept one by this much (eV/atom)...",
)
@click.option(
    "--force-threshold",
    type=click.FloatRange(min=0),
    default=DEFAULT_FORCE_THRESHOLD_EV_PER_ANG,
    show_default=True,
    help="...or any force component by this much (eV/A). 0 and 0 keep every frame.",
)
@click.option(
    "--api-key", default=None, help="Materials Project API key (default: $MP_API_KEY). Never written anywhere."
)
@click.option("--endpoint", default=None, help="REST endpoint (default: mp-api's, https://api.materialsproject.org/).")
@click.option(
    "--trajectories",
    default=MP_TRAJECTORIES_URI,
    show_default=True,
    help="Delta table with the per-step trajectories (MP's public table, or a local mirror path).",
)
@click.option("--batch-tasks", type=click.IntRange(min=1), default=50, show_default=True, help="Tasks per request.")
@click.option("--retries", type=click.IntRange(min=1), default=5, show_default=True, help="Tries per request.")
@click.option(
    "--backoff", type=click.FloatRange(min=0), default=1.0, show_default=True, help="First retry wait (s), doubling."
)
@click.option(
    "--min-distance-factor",
    default=MIN_DISTANCE_FACTOR,
    show_default=True,
    type=float,
    help="Quality gate: reject structures with two atoms closer than this x the sum of covalent radii.",
)
@click.option(
    "--dry-run", is_flag=True, help="Print how many materials, tasks and ionic steps would come; write nothing."
)
def command(
    out: Path,
    chemsys: tuple[str, ...],
    elements: tuple[str, ...],
    material_ids: tuple[str, ...],
    functional: str,
    what: str,
    limit: int | None,
    energy_threshold: float,
    force_threshold: float,
    api_key: str | None,
    endpoint: str | None,
    trajectories: str,
    batch_tasks: int,
    retries: int,
    backoff: float,
    min_distance_factor: float,
    dry_run: bool,
) -> None:
    """Pull Materials Project frames (GGA/GGA+U and r2SCAN) into the dataset at --out.

    \b
    Search goes through mp-api's MPRester (materials, tasks, thermo); the per-step trajectories are read
    from MP's public Delta Lake table with deltalake, one query per batch, not through the REST API.
    Per ionic step: structure, energy (e_fr_energy, eV: the free energy the forces derive from), forces
    (eV/A), stress (GPa, ASE sign), magnetic moments on the final step when MP has them. Deprecated tasks
    are skipped. Relaxation frames are thinned as MPtrj did (--energy-threshold / --force-threshold; the
    first and last frame of each task are always kept). Rows of one material share pair_id (its material
    id) across functionals; see `curate pair-report`.

    \b
    Resumable: DIR/pull-mp.checkpoint.json records finished tasks; re-run the same command after an
    interruption and it continues without duplicates. Transient failures (HTTP 429/5xx, dropped
    connections) are retried with exponential backoff.

    \b
    Example:
      MP_API_KEY=... curate pull mp --chemsys Li-Fe-O --functional both --out lifeo
    """
    from curate.materials_project.client import RetryPolicy, resolve_api_key
    from curate.materials_project.frames import FramePolicy
    from curate.materials_project.pull import PullOptions, PullQuery, count_pull

    key = resolve_api_key(api_key)
    query = PullQuery(
        chemsys=_split(chemsys),
        elements=_split(elements),
        material_ids=_split(material_ids),
        functional=functional,  # type: ignore[arg-type]
        what=what,  # type: ignore[arg-type]
        limit=limit,
    )
    options = PullOptions(
        endpoint=endpoint,
        trajectories_uri=trajectories,
        policy=FramePolicy(energy_threshold, force_threshold),
        retry=RetryPolicy(attempts=retries, backoff_s=backoff),
        batch_tasks=batch_tasks,
        min_distance_factor=min_distance_factor,
    )
    if dry_run:
        counts = count_pull(query, api_key=key, options=options)
        for name, value in counts.items():
            click.echo(f"{name}\t{value}")
        return
    _run(query, out, key, options)


def _run(query: PullQuery, out: Path, key: str, options: PullOptions) -> None:
    from tqdm import tqdm

    from curate.dataset.store import Dataset
    from curate.materials_project.pull import pull

    bar = tqdm(unit=" tasks", desc="pull mp", disable=None, file=sys.stderr, postfix={"frames": 0})
    frames = 0

    def on_plan(total: int, done: int) -> None:
        bar.reset(total=total)
        bar.update(done)

    def on_task(tasks: int, written: int) -> None:
        nonlocal frames
        frames += written
        bar.set_postfix(frames=frames, refresh=False)
        bar.update(tasks)

    with bar:
        report = pull(
            query,
            out,
            api_key=key,
            options=options,
            on_plan=on_plan,
            on_task=on_task,
            on_message=lambda message: bar.write(f"curate: warning: {message}", file=sys.stderr),
        )
    dataset = Dataset.open(out)
    click.echo(
        f"{report.materials} materials, {report.tasks_planned} tasks ({report.tasks_already_done} done before, "
        f"{report.deprecated_skipped} deprecated skipped); {report.rows_added} rows added, {report.duplicates} "
        f"already present, {report.frames_dropped_by_policy} frames dropped by the frame policy, "
        f"{report.quarantined} quarantined in {report.seconds:.1f} s; {out} now holds {dataset.num_rows} rows "
        f"(content hash {dataset.content_hash[:16]})"
    )
    if report.quarantined:
        click.echo(f"quarantined records and reasons: {out / 'quarantine.jsonl'}", err=True)
