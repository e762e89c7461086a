"""Fine-tuning settings: one frozen dataclass, with the softening paper's defaults, recorded in every output."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

from curate.errors import ConfigurationError

FinetuneMethod = Literal["linear", "full", "heads"]
FINETUNE_METHODS: tuple[str, ...] = get_args(FinetuneMethod)
LossName = Literal["mse", "huber", "mae"]
LOSS_NAMES: tuple[str, ...] = get_args(LossName)
# how the elemental reference energies (CHGNet's AtomRef, MACE's E0s, matgl's element_refs) are treated
AtomRefMode = Literal["frozen", "trainable", "refit"]
ATOMREF_MODES: tuple[str, ...] = get_args(AtomRefMode)

METHOD_HELP = {
    "linear": "one scalar multiplies the energy output (so forces and stress too); every weight frozen",
    "full": "every weight trains (the elemental reference energies follow --atomref)",
    "heads": "embeddings and early interaction blocks frozen; the last block and readout train",
}


@dataclass(frozen=True)
class TrainingSettings:
    """Hyper-parameters of one fine-tuning run.

    Defaults are the softening paper's full fine-tuning: loss weights energy : force : stress =
    0.1 : 100 : 0.1 on MSE of energy per atom (eV/atom), force components (eV/angstrom) and stress components
    (GPa); Adam; learning rate 1e-3 cosine-decayed to 1e-5 over 100 epochs; the epoch with the best validation
    force MAE is kept.

    Attributes:
        epochs: passes over the training set.
        learning_rate: initial Adam learning rate.
        final_learning_rate: learning rate reached by the cosine schedule at the last epoch.
        energy_weight: loss weight of the energy-per-atom term.
        force_weight: loss weight of the force term.
        stress_weight: loss weight of the stress term (0 turns stress off).
        loss: mse, huber (delta ``huber_delta``) or mae.
        huber_delta: Huber transition, in the unit of each term.
        batch_size: structures per optimiser step.
        seed: seeds torch (initialisation of new layers, dropout) and the order of training batches.
        atomref: elemental reference energies: ``frozen`` (pretrained values fixed), ``trainable``
            (fine-tuned with the rest) or ``refit`` (least-squares refit on the training set, then fixed).
        heads_trainable_blocks: for ``heads``, how many of the last interaction blocks train.
        max_steps: if set, every run takes exactly this many optimiser steps whatever the training-set size
            (``epochs`` is then ignored: as many passes as the steps need, the last one possibly partial),
            and the cosine schedule spans them. Learning curves use it so that every budget trains equally
            long; with a fixed epoch count a larger set also means more steps.
    """

    epochs: int = 100
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-5
    energy_weight: float = 0.1
    force_weight: float = 100.0
    stress_weight: float = 0.1
    loss: LossName = "mse"
    huber_delta: float = 0.1
    batch_size: int = 4
    seed: int = 0
    atomref: AtomRefMode = "frozen"
    heads_trainable_blocks: int = 1
    max_steps: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigurationError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigurationError(f"batch size must be >= 1, got {self.batch_size}")
        if not 0 < self.final_learning_rate <= self.learning_rate:
            raise ConfigurationError(
                "need 0 < final learning rate <= learning rate, "
                f"got {self.final_learning_rate} and {self.learning_rate}"
            )
        if min(self.energy_weight, self.force_weight, self.stress_weight) < 0:
            raise ConfigurationError("loss weights must be >= 0")
        if self.loss not in LOSS_NAMES:
            raise ConfigurationError(f"unknown loss {self.loss!r}; expected one of {', '.join(LOSS_NAMES)}")
        if self.atomref not in ATOMREF_MODES:
            raise ConfigurationError(f"unknown atomref mode {self.atomref!r}; expected {', '.join(ATOMREF_MODES)}")
        if self.heads_trainable_blocks < 1:
            raise ConfigurationError("heads_trainable_blocks must be >= 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigurationError(f"max_steps must be >= 1, got {self.max_steps}")

    def optimiser_steps(self, n_train: int) -> int:
        """Optimiser steps of one run on ``n_train`` structures: ``max_steps``, else epochs x batches per epoch."""
        if self.max_steps is not None:
            return self.max_steps
        return self.epochs * math.ceil(n_train / self.batch_size)

    def passes(self, n_train: int) -> int:
        """Epochs (passes over the training set, the last possibly partial) one run on ``n_train`` structures takes."""
        return math.ceil(self.optimiser_steps(n_train) / max(1, math.ceil(n_train / self.batch_size)))

    def with_changes(self, **changes: Any) -> TrainingSettings:
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for training.json and reports."""
        return asdict(self)


def check_method(method: str) -> FinetuneMethod:
    """``method`` as a FinetuneMethod, or ConfigurationError naming the valid ones."""
    if method not in FINETUNE_METHODS:
        expected = ", ".join(FINETUNE_METHODS)
        raise ConfigurationError(f"unknown fine-tuning method {method!r}; expected one of {expected}")
    return method  # type: ignore[return-value]
