"""``curate finetune``: fine-tune a uMLIP on a dataset and write a model that a model spec loads."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import curate.cli.ood_options as ood_cli
from curate.cli.options import device_option, model_option, out_option, overwrite_option
from curate.cli.training_options import training_options
from curate.training.settings import FINETUNE_METHODS, METHOD_HELP, FinetuneMethod, TrainingSettings

if TYPE_CHECKING:
    from curate.models.base import Model
    from curate.training.data import TrainingSet
    from curate.training.evaluate import Metrics
    from curate.training.out_of_domain import BenchmarkPart
    from curate.training.result import EpochRecord, FinetuneResult


@click.command("finetune")
@model_option()
@click.option("--train", "train_dir", required=True, type=click.Path(path_type=Path), help="Training dataset.")
@click.option(
    "--val",
    "val_dir",
    default=None,
    type=click.Path(path_type=Path),
    help="Validation dataset: the epoch with the lowest validation force MAE is kept (default: the last epoch).",
)
@click.option(
    "--method",
    required=True,
    type=click.Choice(FINETUNE_METHODS),
    help="; ".join(f"{k}: {v}" for k, v in METHOD_HELP.items()) + ".",
)
@out_option("Folder for the model and record.", file_okay=False)
@device_option
@overwrite_option("Replace a finished run in --out.")
@training_options()
@ood_cli.ood_options()
@ood_cli.replay_options()
def command(
    model: str,
    train_dir: Path,
    val_dir: Path | None,
    method: FinetuneMethod,
    out: Path,
    device: str,
    overwrite: bool,
    settings: TrainingSettings,
    ood: ood_cli.OodRequest,
    replay: ood_cli.ReplayRequest | None,
) -> None:
    """Fine-tune --model on the dataset --train and save it in --out; print the spec that loads it.

    \b
    Methods (the softening paper, npj Comput. Mater. 11, 9 (2025)):
      linear  one scalar s multiplies the energy (and so forces and stress); every weight frozen.
              s minimises the same weighted loss, solved in closed form from one prediction pass;
              one high-energy structure is enough (CHGNet: slope 0.85 -> 0.97 in the paper).
              Shown too: s +- its standard error; the untouched spec is printed when s cannot help.
      full    every weight trains; defaults are the paper's: loss weights E:F:S = 0.1:100:0.1
              (eV/atom, eV/A, GPa), MSE, Adam, lr 1e-3 cosine to 1e-5, 100 epochs, best
              validation force MAE kept.
      heads   embeddings and early interaction blocks frozen, the last block(s) and readout train.

    \b
    Output (--out): the model file (chgnet-finetuned.pth.tar, model.model for MACE, model/ for matgl),
    training.json (base model and its sha256, data content hashes, settings, per-epoch history,
    validation errors before and after) and learning-curve.png. Neighbour graphs are built once and
    reused every epoch. --device auto trains on CUDA when torch sees a GPU.

    \b
    Examples:
      curate finetune -m chgnet@0.3.0 --train picked --method linear --out chgnet-linear
      curate finetune -m chgnet@0.3.0 --train picked --val held-out --method full --epochs 100 --out ft
      curate softening held-out -m chgnet:ft/chgnet-finetuned.pth.tar     # use the result
      curate finetune -m chgnet@0.3.0 --train picked --method full --replay --replay-count 10 --out ft-replay
    Out of domain (--ood, default parts): errors before and after per part, and a verdict; see docs/replay.md.
    """
    from curate.models import load_model, select_device
    from curate.training.data import load_training_set
    from curate.training.finetune import RECORD_NAME, finetune, write_finetune_output

    train = load_training_set(train_dir)
    val = load_training_set(val_dir) if val_dir is not None else None
    fingerprint: dict[str, Any] = {"base": model, "method": method, "settings": settings.as_dict()}
    fingerprint |= {"train": train.content_hash, "val": None if val is None else val.content_hash}
    fingerprint |= ood_cli.replay_fingerprint(replay)
    done = _finished_spec(out / RECORD_NAME, fingerprint, overwrite=overwrite)
    if done is not None:
        click.echo(f"{out}: already fine-tuned with these settings and data (--overwrite to redo)", err=True)
        click.echo(done)
        return
    parts = ood_cli.ood_parts(ood)
    base = load_model(model, device=select_device(device))  # loaded once: training copies it
    click.echo(
        f"fine-tuning {model} ({method}) on {len(train)} structures ({train.num_atoms} atoms)"
        + (f", validating on {len(val)}" if val is not None else ", no validation set: the last epoch is kept"),
        err=True,
    )
    with click.progressbar(
        length=settings.passes(len(train)) if method != "linear" else 1, label="epochs", file=sys.stderr
    ) as bar:

        def on_epoch(record: EpochRecord) -> None:
            bar.update(1)
            if record.val_force_mae_ev_per_ang is not None:
                bar.label = f"epoch {record.epoch}: val force MAE {record.val_force_mae_ev_per_ang:.4f} eV/A"

        replaying = ood_cli.replay_for(replay)
        result = finetune(base, train, val, method=method, settings=settings, on_epoch=on_epoch, replay=replaying)
        if method == "linear":
            bar.update(1)
    advice, recommended = _linear_advice(base, model, train, settings) if method == "linear" else ({}, None)
    _evaluate(result, base, val, ood, replay, parts)
    spec = write_finetune_output(
        result, out, command=shlex.join(["curate", *sys.argv[1:]]), record_extra={"fingerprint": fingerprint, **advice}
    )
    click.echo(recommended or spec)


def _evaluate(
    result: FinetuneResult,
    base: Model,
    val: TrainingSet | None,
    ood: ood_cli.OodRequest,
    replay: ood_cli.ReplayRequest | None,
    parts: list[BenchmarkPart],
) -> None:
    """Validation errors before and after, and the out-of-domain change, into ``result.extra`` and stderr."""
    from curate.training.evaluate import evaluate

    before = after = None
    if val is not None:
        before = evaluate(base, val)
        after = evaluate(result.model, val)
        result.extra["validation_before"] = before.as_dict()
        result.extra["validation_after"] = after.as_dict()
    _summary(result, before, after)
    result.extra["out_of_domain"] = ood_cli.record_ood(parts, base, result, ood, replay)


def _finished_spec(record_path: Path, fingerprint: dict[str, Any], *, overwrite: bool) -> str | None:
    """The model spec of the finished run at ``record_path`` when it had this fingerprint (None: train now).

    UsageError when the folder holds another run and ``overwrite`` is not given.
    """
    if not record_path.is_file() or overwrite:
        return None
    previous = json.loads(record_path.read_text())
    if previous.get("fingerprint") == fingerprint:
        return str(previous["base_model"]["spec"] if previous.get("recommended_untouched") else previous["model_spec"])
    raise click.UsageError(f"{record_path.parent} holds another fine-tuning run; pass --overwrite or another --out")


def _summary(result: FinetuneResult, before: Metrics | None, after: Metrics | None) -> None:
    """The energy scale (linear) or what trained, and validation errors before and after, to stderr."""
    if result.energy_scale is not None:
        click.echo(f"energy scale s = {result.energy_scale:.6f}", err=True)
    else:
        click.echo(
            f"trained {result.trainable_parameters:,} of {result.trainable_parameters + result.frozen_parameters:,} "
            f"parameters, {result.structures_per_second:.2f} structures/s; kept epoch {result.best_epoch}",
            err=True,
        )
    if before is not None and after is not None:
        click.echo(
            f"validation: force MAE {before.force_mae_ev_per_ang:.4f} -> {after.force_mae_ev_per_ang:.4f} eV/A, "
            f"softening scale {before.softening_scale:.3f} -> {after.softening_scale:.3f}, energy MAE "
            f"{1000 * before.energy_mae_ev_per_atom:.1f} -> {1000 * after.energy_mae_ev_per_atom:.1f} meV/atom",
            err=True,
        )


def _linear_advice(
    base: Model, model: str, train: TrainingSet, settings: TrainingSettings
) -> tuple[dict[str, Any], str | None]:
    """Said on stderr: the fitted scale +- its standard error, how well ``train`` determines it, the verdict.

    Returns the training.json entries (``scale_advice``, ``recommended_untouched``) and the untouched model's
    spec when the scale should not be applied (else None).
    """
    from curate.experiments.scale_advice import advise_set

    advice = advise_set(base, train, settings)
    click.echo(advice.summary(), err=True)
    if advice.ill_conditioned:
        click.echo("warning: the correction set is ill-conditioned for a scale fit", err=True)
    if not advice.apply:
        click.echo(f"recommended model: the untouched {model}, not the fine-tuned one (written all the same)", err=True)
    record = {"scale_advice": advice.as_dict(), "recommended_untouched": not advice.apply}
    return record, None if advice.apply else model
