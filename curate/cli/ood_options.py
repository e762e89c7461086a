"""Click options for out-of-domain evidence (``finetune``, ``correction-gain``) and replay (``finetune``).

``ood_options`` gives the command one ``ood`` argument (:class:`OodRequest`); ``replay_options`` one ``replay``
argument (:class:`ReplayRequest` or None). :func:`ood_parts` and :func:`replay_for` turn them into the library's
objects; :func:`report_ood` prints and records the change next to the in-domain numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from curate.cli.options import NON_NEGATIVE, POSITIVE, option_group
from curate.training.out_of_domain import DATA_ROOT_VARIABLE, WORSE_THRESHOLD_PERCENT
from curate.training.replay import REPLAY_STRATEGIES, ReplaySettings

if TYPE_CHECKING:
    from curate.models.base import Model
    from curate.training.out_of_domain import BenchmarkPart, OutOfDomainChange
    from curate.training.replay import Replay
    from curate.training.result import FinetuneResult

F = TypeVar("F", bound=Callable[..., Any])
DATASET = click.Path(path_type=Path, file_okay=False)


@dataclass(frozen=True)
class OodRequest:
    """What the user asked of the out-of-domain benchmark."""

    datasets: tuple[Path, ...]
    default: bool
    threshold_percent: float


@dataclass(frozen=True)
class ReplayRequest:
    """What the user asked of replay: the reference (None: the default out-of-domain sources) and settings."""

    reference: Path | None
    settings: ReplaySettings


def ood_options() -> Callable[[F], F]:
    """``--ood DATASET`` (repeatable), ``--ood-default/--no-ood-default``, ``--ood-threshold``: one ``ood`` kwarg."""

    def collect(kwargs: dict[str, Any]) -> dict[str, Any]:
        request = OodRequest(tuple(kwargs.pop("ood_datasets")), kwargs.pop("ood_default"), kwargs.pop("ood_threshold"))
        return {**kwargs, "ood": request}

    return option_group(
        (
            click.option(
                "--ood",
                "ood_datasets",
                multiple=True,
                type=DATASET,
                help="A labelled dataset outside the correction's target, evaluated before and after "
                "(repeatable; each reported on its own).",
            ),
            click.option(
                "--ood-default/--no-ood-default",
                "ood_default",
                default=True,
                show_default=True,
                help="Also evaluate the default out-of-domain parts: MatPES PBE elemental structures and "
                f"Materials Project task steps, read from ${DATA_ROOT_VARIABLE} (default ../shared/data).",
            ),
            click.option(
                "--ood-threshold",
                "ood_threshold",
                default=WORSE_THRESHOLD_PERCENT,
                show_default=True,
                type=NON_NEGATIVE,
                help="Verdict 'worse outside its target' when a part's force or energy MAE grows by more "
                "than this (%).",
            ),
        ),
        collect,
    )


def _collect_replay(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The replay options of ``kwargs`` as one ``replay`` kwarg (None without --replay or --replay-from)."""
    on, reference = kwargs.pop("replay_on"), kwargs.pop("replay_from")
    settings = ReplaySettings(
        count=kwargs.pop("replay_count"),
        ratio=kwargs.pop("replay_ratio"),
        weight=kwargs.pop("replay_weight"),
        strategy=kwargs.pop("replay_strategy"),
        seed=kwargs["settings"].seed,
        max_force_error_ev_per_ang=kwargs.pop("replay_max_force_error"),
        max_stress_error_gpa=kwargs.pop("replay_max_stress_error"),
    )
    request = ReplayRequest(reference, settings) if on or reference is not None else None
    return {**kwargs, "replay": request}


_REPLAY_DEFAULTS = ReplaySettings()
_REPLAY_OPTIONS = (
    click.option(
        "--replay",
        "replay_on",
        is_flag=True,
        help="Mix a replay set into training, drawn from --replay-from (default: the default "
        "out-of-domain sources, whose drawn structures are then held out of the out-of-domain report).",
    ),
    click.option(
        "--replay-from",
        "replay_from",
        default=None,
        type=DATASET,
        help="Reference dataset to replay from (the model's pretraining distribution, e.g. an MPtrj "
        "or MatPES import); implies --replay.",
    ),
    click.option(
        "--replay-count",
        type=click.IntRange(min=1),
        default=None,
        help="Replay structures to draw (default: --replay-ratio x training structures).",
    ),
    click.option(
        "--replay-ratio",
        type=POSITIVE,
        default=_REPLAY_DEFAULTS.ratio,
        show_default=True,
        help="Replay structures per training structure (when --replay-count is not given).",
    ),
    click.option(
        "--replay-weight",
        type=NON_NEGATIVE,
        default=_REPLAY_DEFAULTS.weight,
        show_default=True,
        help="Multiplier of a replay structure's force and stress loss terms; its energy term is "
        "off (replay energies may sit on another reference scale).",
    ),
    click.option(
        "--replay-strategy",
        type=click.Choice(REPLAY_STRATEGIES),
        default=_REPLAY_DEFAULTS.strategy,
        show_default=True,
        help="curate selector that draws the replay set for diversity in the model's feature space.",
    ),
    click.option(
        "--replay-max-force-error",
        type=POSITIVE,
        default=_REPLAY_DEFAULTS.max_force_error_ev_per_ang,
        show_default=True,
        help="Draw only reference structures whose force MAE under the starting model is at most "
        "this (eV/A): replay anchors the model where it already is.",
    ),
    click.option(
        "--replay-max-stress-error",
        type=POSITIVE,
        default=_REPLAY_DEFAULTS.max_stress_error_gpa,
        show_default=True,
        help="Likewise for the stress MAE (GPa).",
    ),
)


def replay_options() -> Callable[[F], F]:
    """``--replay/--replay-from``, ``--replay-count``, ``--replay-ratio``, ``--replay-weight``,
    ``--replay-strategy``, ``--replay-max-force-error``, ``--replay-max-stress-error``: one ``replay`` kwarg
    (None without ``--replay`` or ``--replay-from``)."""

    return option_group(_REPLAY_OPTIONS, _collect_replay)


def ood_parts(request: OodRequest) -> list[BenchmarkPart]:
    """The benchmark parts ``request`` asks for (empty when it asks for none).

    When the default parts' data root does not exist, they are skipped with a note on stderr (the report then
    records only the named datasets, or ``null``); a root that exists but lacks a file is an error.
    """
    from curate.training.out_of_domain import benchmark_parts, default_data_root

    default = request.default
    if default and not default_data_root().is_dir():
        click.echo(
            f"note: no out-of-domain default: {default_data_root()} not found (set ${DATA_ROOT_VARIABLE})", err=True
        )
        default = False
    return benchmark_parts(request.datasets, default=default) if default or request.datasets else []


def replay_for(request: ReplayRequest | None) -> Replay | None:
    """The library's :class:`~curate.training.replay.Replay` of ``request`` (its reference loaded)."""
    if request is None:
        return None
    from curate.training.data import load_training_set
    from curate.training.out_of_domain import default_parts, pooled_reference
    from curate.training.replay import Replay

    reference = pooled_reference(default_parts()) if request.reference is None else load_training_set(request.reference)
    return Replay(reference, request.settings)


def report_ood(
    parts: Sequence[BenchmarkPart],
    base: Model,
    trained: Model,
    *,
    threshold_percent: float,
    held_out: Sequence[str] = (),
) -> OutOfDomainChange | None:
    """Evaluate ``base`` and ``trained`` on ``parts`` less ``held_out`` ids; print one line per part and the
    verdict to stderr; None when there are no parts."""
    from curate.training.out_of_domain import OutOfDomainCheck, change_lines, without_ids

    kept = without_ids(parts, held_out)
    if not kept:
        return None
    click.echo(f"evaluating out of domain: {', '.join(f'{p.name} ({len(p.data)})' for p in kept)}", err=True)
    change = OutOfDomainCheck(kept, base, threshold_percent=threshold_percent).change(trained)
    for line in change_lines(change):
        click.echo(line, err=True)
    return change


def replay_fingerprint(request: ReplayRequest | None) -> dict[str, Any]:
    """``{"replay": ...}`` for a run's fingerprint when replay is on, else ``{}`` (fingerprints without replay keep
    their old form)."""
    if request is None:
        return {}
    return {"replay": {"from": str(request.reference or "default"), **asdict(request.settings)}}


def record_ood(
    parts: Sequence[BenchmarkPart],
    base: Model,
    result: FinetuneResult,
    ood: OodRequest,
    replay: ReplayRequest | None,
) -> dict[str, Any] | None:
    """The out-of-domain change of a fine-tuning run (printed; JSON-ready), None without parts.

    Structures replay drew from the default sources (the same files as the default parts) are held out of
    the parts, so the report never scores a model on structures it trained on.
    """
    drawn = result.extra.get("replay", {}).get("ids", [])
    held_out = drawn if replay is not None and replay.reference is None else []
    change = report_ood(parts, base, result.model, threshold_percent=ood.threshold_percent, held_out=held_out)
    return None if change is None else change.as_dict()
