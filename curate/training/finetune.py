"""Fine-tune any supported uMLIP named by a model spec, and write the result as a folder a spec loads.

``finetune`` loads the model (``chgnet@0.3.0``, ``chgnet:FILE``, ``mace:FILE``, ``matgl:DIR``) and hands it
to the fine-tuner registered for its architecture (:data:`curate.training.registry.FINE_TUNERS`);
``write_finetune_output`` writes the model file, ``training.json`` (the record of the run: base model, data
fingerprints, settings, history, command) and a learning-curve PNG.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curate import __version__
from curate.dataset.io import atomic_write_text
from curate.models import Model, load_model, select_device
from curate.training.data import TrainingSet
from curate.training.registry import fine_tuner_for
from curate.training.replay import Replay
from curate.training.result import EpochRecord, FinetuneResult
from curate.training.settings import FinetuneMethod, TrainingSettings, check_method

RECORD_NAME = "training.json"
PLOT_NAME = "learning-curve.png"


def finetune(
    spec: str | Model,
    train: TrainingSet,
    val: TrainingSet | None,
    *,
    method: FinetuneMethod | str,
    settings: TrainingSettings,
    device: str | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    replay: Replay | None = None,
) -> FinetuneResult:
    """Fine-tune the model ``spec`` names on ``train`` (best epoch by ``val`` force MAE) with ``method``.

    Args:
        spec: model spec, e.g. ``chgnet@0.3.0`` or ``mace:/path/model.model``, or a model already loaded
            with :func:`curate.models.load_model` (not modified: a copy is trained), to load it once for
            several runs.
        train: labelled training structures (energy eV, forces eV/A, optional stress GPa).
        val: validation structures or None (then the last epoch is kept).
        method: ``linear``, ``full`` or ``heads`` (see :mod:`curate.training.settings`).
        settings: hyper-parameters.
        device: ``cpu``, ``cuda``, or None/``auto`` for CUDA when present.
        on_epoch: called after each epoch.
        replay: a reference dataset mixed into training (see :mod:`curate.training.replay`); None: no replay.

    Raises:
        ConfigurationError: unknown spec or method, the model cannot be loaded, or no fine-tuner is registered
            for its architecture.
    """
    method = check_method(method)
    if isinstance(spec, str):
        resolved = select_device(device)
        loaded = load_model(spec, device=resolved)
    else:
        loaded = spec
        resolved = loaded.device
    tuner = fine_tuner_for(loaded)
    return tuner.finetune(
        loaded, train, val, method=method, settings=settings, device=resolved, on_epoch=on_epoch, replay=replay
    )


def write_finetune_output(
    result: FinetuneResult, out: Path, *, command: str, record_extra: dict[str, Any] | None = None
) -> str:
    """Write the fine-tuned model, ``training.json`` and the learning curve into ``out``; return the model spec.

    ``record_extra`` adds top-level keys to ``training.json``. It is written last and atomically: a folder
    without it is an unfinished run.
    """
    out.mkdir(parents=True, exist_ok=True)
    spec = result.save_model(out)
    record: dict[str, Any] = {
        "curate_version": __version__,
        "command": command,
        "model_spec": spec,
        **result.summary(),
        **(record_extra or {}),
    }
    if result.history:
        plot_learning_curve(result.history, out / PLOT_NAME, title=f"{result.base.name} {result.method}")
        record["plot"] = PLOT_NAME
    atomic_write_text(out / RECORD_NAME, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return spec


def plot_learning_curve(history: list[EpochRecord], path: Path, *, title: str) -> None:
    """Training and validation force MAE (eV/A) and validation energy MAE (meV/atom) against epoch."""
    from curate.plotting import PNG_METADATA, default_style

    epochs = [r.epoch for r in history]
    with default_style() as plt:
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
        left.plot(epochs, [r.train_force_mae_ev_per_ang for r in history], "o-", label="train")
        if any(r.val_force_mae_ev_per_ang is not None for r in history):
            left.plot(epochs, [r.val_force_mae_ev_per_ang for r in history], "s-", label="validation")
            energy_mev = [
                None if r.val_energy_mae_ev_per_atom is None else 1000 * r.val_energy_mae_ev_per_atom for r in history
            ]
            right.plot(epochs, energy_mev, "s-", color="C1")
        left.set_xlabel("epoch")
        left.set_ylabel("force MAE (eV/Å)")
        left.legend(frameon=False)
        right.set_xlabel("epoch")
        right.set_ylabel("validation energy MAE (meV/atom)")
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=110, metadata=PNG_METADATA)
        plt.close(fig)
