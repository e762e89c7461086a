"""What a fine-tuning run returns: the per-epoch history, the trained model, and how to save it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate.models.base import Model, ModelInfo
from curate.training.settings import TrainingSettings


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of training.

    Attributes:
        epoch: 1-based epoch number.
        learning_rate: learning rate used during the epoch.
        train_loss: mean weighted loss over the epoch's batches.
        train_force_mae_ev_per_ang: force MAE over the epoch's training batches (eV/angstrom).
        val_energy_mae_ev_per_atom: validation energy MAE (eV/atom), None without a validation set.
        val_force_mae_ev_per_ang: validation force MAE (eV/angstrom).
        val_stress_mae_gpa: validation stress MAE (GPa), None without stress labels.
        seconds: wall time of the epoch's training steps (validation excluded).
    """

    epoch: int
    learning_rate: float
    train_loss: float
    train_force_mae_ev_per_ang: float
    val_energy_mae_ev_per_atom: float | None
    val_force_mae_ev_per_ang: float | None
    val_stress_mae_gpa: float | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class FinetuneResult:
    """A fine-tuned model, ready to predict, and the record of how it was made.

    Attributes:
        architecture: chgnet, mace or matgl.
        method: linear, full or heads.
        base: provenance of the model fine-tuning started from.
        settings: the hyper-parameters used.
        model: the fine-tuned model behind the curate Model interface (in memory, best epoch's weights).
        history: one record per epoch (empty for ``linear``, which is solved in closed form).
        best_epoch: epoch whose weights were kept (best validation force MAE; the last epoch without a
            validation set); None for ``linear``.
        energy_scale: for ``linear``, the fitted scalar multiplying energy, forces and stress; else None.
        train_structures: structures in the training set.
        train_seconds: wall time of the training steps, all epochs (s).
        trainable_parameters: parameters that were updated.
        frozen_parameters: parameters that were held fixed.
        data: provenance of the training and validation sets.
        extra: architecture-specific facts worth recording (e.g. the refitted reference energies).
        save_model: writes the model file into a folder and returns the spec that loads it.
    """

    architecture: str
    method: str
    base: ModelInfo
    settings: TrainingSettings
    model: Model
    history: list[EpochRecord]
    best_epoch: int | None
    energy_scale: float | None
    train_structures: int
    train_seconds: float
    trainable_parameters: int
    frozen_parameters: int
    data: dict[str, Any]
    save_model: Callable[[Path], str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def structures_per_second(self) -> float:
        """Training throughput: structures x epochs / training seconds (inf for closed-form linear)."""
        epochs = max(len(self.history), 1)
        return self.train_structures * epochs / self.train_seconds if self.train_seconds > 0 else float("inf")

    def summary(self) -> dict[str, Any]:
        """JSON-ready record of the run (without the weights)."""
        return {
            "architecture": self.architecture,
            "method": self.method,
            "base_model": self.base.as_dict(),
            "settings": self.settings.as_dict(),
            "best_epoch": self.best_epoch,
            "energy_scale": self.energy_scale,
            "train_structures": self.train_structures,
            "train_seconds": round(self.train_seconds, 3),
            "structures_per_second": None if self.train_seconds <= 0 else round(self.structures_per_second, 3),
            "trainable_parameters": self.trainable_parameters,
            "frozen_parameters": self.frozen_parameters,
            "data": self.data,
            "history": [r.as_dict() for r in self.history],
            "extra": self.extra,
        }
