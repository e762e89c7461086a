"""A fine-tuning run as asked for, and what it returns: the per-epoch history, the trained model, how to save it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate.models.base import Device, Model, ModelInfo
from curate.training.data import TrainingSet
from curate.training.settings import FinetuneMethod, TrainingSettings


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


@dataclass(frozen=True)
class EpochLoopResult:
    """What :func:`curate.training.loop.run_epochs` did: per-epoch records, the epoch kept, training time (s)."""

    history: list[EpochRecord]
    best_epoch: int
    train_seconds: float


@dataclass(frozen=True)
class FinetuneRequest:
    """One fine-tuning run as asked for (what :meth:`curate.training.fine_tuner.FineTuner.finetune` was given)."""

    architecture: str
    base: ModelInfo
    train: TrainingSet
    val: TrainingSet | None
    method: FinetuneMethod
    settings: TrainingSettings
    device: Device
    on_epoch: Callable[[EpochRecord], None] | None

    @property
    def validation(self) -> TrainingSet | None:
        """The validation set that picks the best epoch; None when there is none or it is empty."""
        return self.val if self.val is not None and len(self.val) > 0 else None

    def trained_info(self) -> ModelInfo:
        """Provenance of the in-memory fine-tuned model (no file yet): the base's names + ``+method``."""
        base, method = self.base, self.method
        return ModelInfo(
            spec=f"{base.spec}+{method}",
            name=f"{base.name}+{method}",
            architecture=self.architecture,
            version=f"{base.version}+{method}",
            functional=base.functional,
            library=base.library,
            file="(in memory)",
            file_sha256="unknown",
        )

    def result(
        self,
        model: Model,
        save_model: Callable[[Path], str],
        extra: dict[str, Any],
        *,
        trainable: int,
        frozen: int,
        loop: EpochLoopResult | None = None,
        energy_scale: float | None = None,
        seconds: float = 0.0,
    ) -> FinetuneResult:
        """The FinetuneResult of a trained run (``loop``) or of ``linear`` (``energy_scale``, ``seconds``)."""
        return FinetuneResult(
            architecture=self.architecture,
            method=self.method,
            base=self.base,
            settings=self.settings,
            model=model,
            history=[] if loop is None else loop.history,
            best_epoch=None if loop is None else loop.best_epoch,
            energy_scale=energy_scale,
            train_structures=len(self.train),
            train_seconds=seconds if loop is None else loop.train_seconds,
            trainable_parameters=trainable,
            frozen_parameters=frozen,
            data={"train": self.train.describe(), "val": None if self.val is None else self.val.describe()},
            save_model=save_model,
            extra=extra,
        )
