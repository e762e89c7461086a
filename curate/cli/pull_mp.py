"""``curate pull mp``: Materials Project GGA/GGA+U and r2SCAN frames into a dataset, paired by material."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from curate.checks.quality import MIN_DISTANCE_FACTOR
from curate.cli.echo import dataset_state, quarantine_note
from curate.cli.options import (
    NON_NEGATIVE,
    CommaList,
    FunctionalName,
    dry_run_option,
    functional_option,
    limit_option,
    list_option,
    min_distance_option,
    out_option,
)
from curate.materials_project.frames import DEFAULT_ENERGY_THRESHOLD_EV_PER_ATOM, DEFAULT_FORCE_THRESHOLD_EV_PER_ANG
from curate.materials_project.selection import PULL_FUNCTIONALS, WHAT_CHOICES, What
from curate.materials_project.trajectories import MP_TRAJECTORIES_URI

if TYPE_CHECKING:
    from curate.materials_project.pull import PullOptions, PullQuery


@click.command("mp")
@out_option("Dataset directory (created or resumed).", file_okay=False)
@list_option("--chemsys", help="Chemical systems, e.g. Li-Fe-O (repeat or comma-separate).")
@list_option("--elements", help="Materials containing all these elements, e.g. Li,O.")
@list_option("--material-ids", help="Material ids, e.g. mp-149,mp-13.")
@functional_option(
    "PBE: MP's GGA tasks (PBE, +U where MP applies it); r2SCAN: its r2SCAN tasks; PBE,r2SCAN: both.",
    type=CommaList(FunctionalName(PULL_FUNCTIONALS, aliases={"gga": "PBE", "both": PULL_FUNCTIONALS}), unique=True),
    default=",".join(PULL_FUNCTIONALS),
    show_default=True,
)
@click.option(
    "--what",
    type=click.Choice(WHAT_CHOICES),
    default="both",
    show_default=True,
    help="Ionic steps of structure optimizations, statics, or both.",
)
@limit_option("At most this many materials (by material id).")
@click.option(
    "--energy-threshold",
    type=NON_NEGATIVE,
    default=DEFAULT_ENERGY_THRESHOLD_EV_PER_ATOM,
    show_default=True,
    help="Keep a relaxation frame if its energy differs from the last kept one by this much (eV/atom)...",
)
@click.option(
    "--force-threshold",
    type=NON_NEGATIVE,
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
@click.option("--backoff", type=NON_NEGATIVE, default=1.0, show_default=True, help="First retry wait (s), doubling.")
@min_distance_option(default=MIN_DISTANCE_FACTOR)
@dry_run_option("Print how many materials, tasks and ionic steps would come; write nothing.")
def command(
    out: Path,
    chemsys: tuple[str, ...],
    elements: tuple[str, ...],
    material_ids: tuple[str, ...],
    functional: tuple[str, ...],
    what: What,
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
      MP_API_KEY=... curate pull mp --chemsys Li-Fe-O --functional PBE,r2SCAN --out lifeo
    """
    from curate.materials_project.client import RetryPolicy, resolve_api_key
    from curate.materials_project.frames import FramePolicy
    from curate.materials_project.pull import PullOptions, PullQuery, count_pull
    from curate.redact import register_secret

    register_secret(api_key)  # a key given as an option is no environment variable: name it a secret
    key = resolve_api_key(api_key)
    from curate.materials_project.selection import functional_family

    query = PullQuery(
        chemsys=chemsys,
        elements=elements,
        material_ids=material_ids,
        functional=functional_family(functional),
        what=what,
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

    from curate.materials_project.pull import pull
    from curate.redact import redact

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
            on_message=lambda message: bar.write(f"curate: warning: {redact(message)}", file=sys.stderr),
        )
    click.echo(
        f"{report.materials} materials, {report.tasks_planned} tasks ({report.tasks_already_done} done before, "
        f"{report.deprecated_skipped} deprecated skipped); {report.rows_added} rows added, {report.duplicates} "
        f"already present, {report.frames_dropped_by_policy} frames dropped by the frame policy, "
        f"{report.quarantined} quarantined in {report.seconds:.1f} s; {dataset_state(out)}"
    )
    quarantine_note(out, report.quarantined)
